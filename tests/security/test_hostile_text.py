"""Stored text refuses control and direction characters (issue 18, finding 8)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from app.auth.models import User
from app.delivery.models import Email
from tests.conftest import World
from tests.grades.helpers import posted

LoginAs = Callable[[User], dict[str, str]]


# --- 8. control and direction characters in every stored text ---------------------------

HOSTILE = ["Exam\x00moved\x1b[2J", "Back\x08space", "Trip \u202egnp.exe", "Iso\u2066late\u2069"]


@pytest.mark.parametrize("text", HOSTILE)
async def test_school_class_and_subject_names_refuse_control_characters(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, text: str
) -> None:
    admin = login_as(world.admin)
    school = await client.post("/schools", headers=admin, json={"name": text})
    renamed = await client.patch(f"/schools/{world.school.id}", headers=admin, json={"name": text})
    new_class = await client.post(
        f"/schools/{world.school.id}/classes", headers=admin, json={"name": text[:40]}
    )
    subjects = await client.put(
        f"/schools/{world.school.id}/classes/{world.class_5a.id}/teachers/{world.teacher.id}",
        headers=admin,
        json={"subjects": [text]},
    )

    for answer, field in (
        (school, "name"),
        (renamed, "name"),
        (new_class, "name"),
        (subjects, "subjects"),
    ):
        assert answer.status_code == 422, answer.text
        assert field in answer.json()["detail"][0]["loc"]


@pytest.mark.parametrize("text", HOSTILE)
async def test_announcements_and_grade_comments_refuse_control_characters(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, text: str
) -> None:
    announcement = {"school_id": str(world.school.id), "title": "Exam", "body": "Friday"}
    title = await client.post(
        "/announcements", headers=login_as(world.admin), json={**announcement, "title": text}
    )
    body = await client.post(
        "/announcements", headers=login_as(world.admin), json={**announcement, "body": text}
    )
    grade = {
        "student_id": str(world.student.id),
        "class_id": str(world.class_5a.id),
        "subject": "math",
        "value": 4,
    }
    comment = await client.post(
        "/grades", headers=login_as(world.teacher), json={**grade, "comment": text}
    )
    subject = await client.post(
        "/grades", headers=login_as(world.teacher), json={**grade, "subject": text}
    )

    for answer, field in ((title, "title"), (body, "body"), (comment, "comment")):
        assert answer.status_code == 422, answer.text
        assert field in answer.json()["detail"][0]["loc"]
    assert subject.status_code == 422
    assert await Email.find({"subject": {"$regex": "Exam"}}).to_list() == []


async def test_long_bodies_keep_their_line_breaks(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    announcement = await client.post(
        "/announcements",
        headers=login_as(world.admin),
        json={"school_id": str(world.school.id), "title": "Trip", "body": "Bring:\r\n- water"},
    )
    comment = await posted(
        client, login_as(world.teacher), world, comment="Good.\nRevise chapter 3"
    )

    assert announcement.status_code == 202, announcement.text
    assert announcement.json()["body"] == "Bring:\n- water"
    assert comment["comment"] == "Good.\nRevise chapter 3"
