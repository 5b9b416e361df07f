"""Changes to one lesson on one date: the admin posts them, each kind with what it needs;
within the next 7 days the class's students and their linked parents are told, each in
their own language, with the subject's name in it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth.models import Locale, Role, User
from app.core.config import Settings
from app.core.security import as_utc, utcnow
from app.delivery import service as delivery
from app.notifications import digests
from app.notifications.models import NotificationSettings
from app.schools.models import GuardianLink, School
from tests.conftest import SmtpServer, UserFactory, World, make_settings
from tests.digests.helpers import received, text_of
from tests.timetable.helpers import (
    Login,
    base,
    every_day,
    name_maths,
    post_change,
    put_week,
    school_today,
)


@pytest.fixture
def settings(tmp_path: Path, smtp_server: SmtpServer) -> Settings:
    return make_settings(tmp_path / "data", smtp_host="127.0.0.1", smtp_port=smtp_server.port)


@pytest.fixture
async def week(client: httpx.AsyncClient, world: World, login_as: Login) -> None:
    response = await put_week(client, login_as, world, every_day(world))
    assert response.status_code == 200, response.text


async def inbox(client: httpx.AsyncClient, login_as: Login, user: User) -> list[dict[str, Any]]:
    response = await client.get("/notifications?topic=schedule", headers=login_as(user))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.usefixtures("week")
async def test_a_cancelled_lesson_tomorrow_reaches_students_and_parents_in_their_language(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    smtp_server: SmtpServer,
) -> None:
    await name_maths(client, login_as, world)
    await User.find_one({"_id": world.parent.id}).update({"$set": {"locale": Locale.ru.value}})
    outsider_parent = await make_user(Role.parent)
    other_student = await make_user(Role.student, school_ids=[world.school.id])
    assert outsider_parent.id and other_student.id
    await GuardianLink(parent_id=outsider_parent.id, student_id=other_student.id).insert()
    tomorrow = school_today(world) + dt.timedelta(days=1)

    response = await post_change(
        client, login_as, world, date=tomorrow.isoformat(), kind="cancelled"
    )
    assert response.status_code == 201, response.text
    assert response.json()["notified"] is True and response.json()["kind"] == "cancelled"

    (for_parent,) = await inbox(client, login_as, world.parent)
    assert "Математика" in for_parent["title"] and "отменён" in for_parent["title"]
    assert for_parent["body"] == "Урок 1 (08:30–09:15), «Математика», отменён."
    (for_student,) = await inbox(client, login_as, world.student)
    assert for_student["body"] == "Lesson 1 (08:30–09:15), Mathematics, is cancelled."
    # The admin who posted it, the teacher and a family of another class hear nothing.
    for user in (world.admin, world.teacher, outsider_parent, other_student):
        assert await inbox(client, login_as, user) == []

    (mail,) = received(smtp_server, world.parent)
    assert "Математика" in str(mail["Subject"]) and "отменён" in str(mail["Subject"])
    text = text_of(mail)
    assert "Урок 1 (08:30–09:15), «Математика», отменён." in text
    assert "Класс: 5A" in text
    assert "потому что ваш ребёнок учится в классе 5A" in text
    assert "math" not in text
    (student_mail,) = received(smtp_server, world.student)
    assert "Mathematics is cancelled" in str(student_mail["Subject"])
    assert received(smtp_server, outsider_parent) == []


@pytest.mark.usefixtures("week")
@pytest.mark.parametrize(
    ("fields", "english"),
    [
        ({"kind": "substitute", "teacher_id": None}, "teaches instead of"),
        ({"kind": "room", "room": "Gym"}, "room Gym instead of 12"),
        (
            {"kind": "time", "starts": "11:00", "ends": "11:45"},
            "11:00–11:45 instead of 08:30–09:15",
        ),
    ],
)
async def test_each_kind_of_change_is_stored_and_told(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    fields: dict[str, Any],
    english: str,
) -> None:
    if fields["kind"] == "substitute":
        stand_in = await make_user(
            Role.teacher, school_ids=[world.school.id], full_name="Pavel Lebedev"
        )
        fields = {**fields, "teacher_id": str(stand_in.id)}
    day = school_today(world) + dt.timedelta(days=7)
    response = await post_change(client, login_as, world, date=day.isoformat(), **fields)
    assert response.status_code == 201, response.text
    assert {k: response.json()[k] for k in fields} == fields
    (told,) = await inbox(client, login_as, world.student)
    assert english in told["body"]
    if fields["kind"] == "substitute":
        assert "Pavel Lebedev teaches instead of" in told["body"]


@pytest.mark.usefixtures("week")
@pytest.mark.parametrize("days", [8, 30, -1])
async def test_a_change_further_than_7_days_or_past_is_stored_but_not_told(
    client: httpx.AsyncClient, world: World, login_as: Login, days: int
) -> None:
    day = school_today(world) + dt.timedelta(days=days)
    response = await post_change(client, login_as, world, date=day.isoformat(), kind="cancelled")
    assert response.status_code == 201, response.text
    assert response.json()["notified"] is False
    assert await inbox(client, login_as, world.student) == []
    assert await inbox(client, login_as, world.parent) == []


@pytest.mark.usefixtures("week")
@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"kind": "substitute"}, "a substitute change needs teacher_id"),
        ({"kind": "room"}, "a room change needs room"),
        ({"kind": "time", "starts": "10:00"}, "a time change needs ends"),
        ({"kind": "time", "starts": "10:00", "ends": "09:00"}, "ends 09:00 is not after starts"),
        ({"kind": "cancelled", "room": "5"}, "a cancelled change takes no room"),
        ({"kind": "room", "room": "5", "starts": "10:00"}, "a room change takes no starts"),
        ({"kind": "moved"}, "'cancelled', 'substitute', 'room' or 'time'"),
        ({"kind": "cancelled", "date": "2026-02-30"}, "date"),
        ({"kind": "cancelled", "period": 21}, "less than or equal to 20"),
        ({"kind": "time", "starts": "9:00", "ends": "10:00"}, "not a time of day as HH:MM"),
    ],
)
async def test_a_change_without_what_its_kind_needs_is_422(
    client: httpx.AsyncClient, world: World, login_as: Login, fields: dict[str, Any], says: str
) -> None:
    response = await post_change(client, login_as, world, **fields)
    assert response.status_code == 422, response.text
    assert says in str(response.json()["detail"])


async def test_a_date_with_no_such_lesson_is_422(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    # No timetable yet: no lesson on any date.
    response = await post_change(client, login_as, world, kind="cancelled")
    assert response.status_code == 422
    assert "has no lesson 1 on" in response.json()["detail"]
    await put_week(client, login_as, world, every_day(world))
    response = await post_change(client, login_as, world, kind="cancelled", period=2)
    assert response.status_code == 422
    assert "class 5A has no lesson 2 on" in response.json()["detail"]
    far = school_today(world) + dt.timedelta(days=400)
    response = await post_change(client, login_as, world, kind="cancelled", date=far.isoformat())
    assert response.status_code == 422
    assert "more than a year from today" in response.json()["detail"]


@pytest.mark.usefixtures("week")
async def test_a_substitute_must_be_another_teacher_of_the_school(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    elsewhere = await make_user(Role.teacher)
    response = await post_change(
        client, login_as, world, kind="substitute", teacher_id=str(elsewhere.id)
    )
    assert response.status_code == 422
    assert "is not a teacher of this school" in response.json()["detail"]
    response = await post_change(
        client, login_as, world, kind="substitute", teacher_id=str(world.student.id)
    )
    assert response.status_code == 422
    response = await post_change(
        client, login_as, world, kind="substitute", teacher_id=str(world.teacher.id)
    )
    assert response.status_code == 422
    assert "the lesson's own teacher" in response.json()["detail"]


@pytest.mark.usefixtures("week")
async def test_only_the_school_admin_posts_changes(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    other = School(name="Other school")
    await other.insert()
    stranger = await make_user(Role.admin, school_ids=[other.id])
    body = {"date": school_today(world).isoformat(), "period": 1, "kind": "cancelled"}
    url = f"{base(world)}/timetable/changes"
    for user in (world.teacher, world.student, world.parent, stranger):
        response = await client.post(url, json=body, headers=login_as(user))
        assert response.status_code == 403, user.role
    assert (await client.post(url, json=body)).status_code == 401
    assert await inbox(client, login_as, world.student) == []


@pytest.mark.usefixtures("week")
async def test_a_parent_who_chose_the_daily_digest_reads_the_change_there(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: SmtpServer
) -> None:
    await name_maths(client, login_as, world)
    chosen = await client.patch(
        "/users/me/preferences",
        json={"email": {"schedule": "daily"}},
        headers=login_as(world.parent),
    )
    assert chosen.status_code == 200, chosen.text
    response = await post_change(client, login_as, world, kind="room", room="Gym")
    assert response.status_code == 201, response.text
    assert received(smtp_server, world.parent) == []  # not now: in the digest
    assert len(received(smtp_server, world.student)) == 1

    stored = await NotificationSettings.get(world.parent.id)
    assert stored is not None and stored.digest_due.daily is not None
    assert await digests.scan(now=max(as_utc(stored.digest_due.daily), utcnow())) == 1
    await delivery.sweep()
    (digest,) = received(smtp_server, world.parent)
    text = text_of(digest)
    assert "Timetable changes" in text
    assert "Lesson 1 (08:30–09:15), Mathematics: room Gym instead of 12." in text
