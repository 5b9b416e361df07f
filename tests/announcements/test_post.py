"""POST /announcements: who may announce to whom, validation, idempotency."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId

from app.announcements.models import Announcement
from app.notifications.models import Notification
from tests.announcements.helpers import Login, announce, inbox_ids
from tests.notifications.helpers import Campus


async def test_admin_announces_to_the_whole_school(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    response = await announce(client, login_as(campus.people["admin"]), campus, priority="high")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] in ("publishing", "published")
    assert body["school_id"] == str(campus.school.id)
    assert body["author_id"] == str(campus.id("admin"))
    assert body["title"] == "Open day"
    assert body["priority"] == "high"
    assert body["class_ids"] == [] and body["roles"] == []

    for name in ("s5a", "s6b", "t5a", "t6b", "t_none", "p_school", "p_child", "p_other_child"):
        assert await inbox_ids(client, login_as(campus.people[name])) == [body["id"]], name
    for name in ("admin", "p_unsub", "so", "to", "p_foreign"):
        assert await inbox_ids(client, login_as(campus.people[name])) == [], name

    stored = await Announcement.get(body["id"])
    assert stored is not None and stored.status == "published"
    assert stored.published_at is not None


async def test_teacher_announces_to_own_class(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    response = await announce(
        client,
        login_as(campus.people["t5a"]),
        campus,
        class_ids=[str(campus.class_5a.id)],
        roles=["parent", "student"],
    )
    assert response.status_code == 202, response.text
    announcement_id = response.json()["id"]
    for name in ("s5a", "s5a2", "p_child", "p_class5a"):
        assert await inbox_ids(client, login_as(campus.people[name])) == [announcement_id], name
    for name in ("t5a", "s6b", "p_class6b", "t_none"):
        assert await inbox_ids(client, login_as(campus.people[name])) == [], name


@pytest.mark.parametrize(
    ("caller", "classes"),
    [
        ("t5a", ["6B"]),  # a class they don't teach
        ("t5a", ["5A", "6B"]),  # one of them not theirs
        ("t5a", []),  # the whole school
        ("t_none", []),
        ("s5a", []),
        ("s5a", ["5A"]),
        ("p_child", ["5A"]),
        ("p_school", []),
        ("ao", []),  # admin of another school
        ("ao", ["5A"]),
        ("to", []),
    ],
)
async def test_refused_announcers(
    client: httpx.AsyncClient, campus: Campus, login_as: Login, caller: str, classes: list[str]
) -> None:
    class_ids = [str({"5A": campus.class_5a.id, "6B": campus.class_6b.id}[c]) for c in classes]
    response = await announce(client, login_as(campus.people[caller]), campus, class_ids=class_ids)
    assert response.status_code == 403, response.text
    assert await Announcement.find_all().count() == 0
    assert await Notification.find_all().count() == 0


@pytest.mark.parametrize(
    ("case", "fields"),
    [
        ("unknown class id", {"class_ids": [str(ObjectId())]}),
        ("malformed class id", {"class_ids": ["5A"]}),
        ("class of another school", {"class_ids": ["OTHER"]}),
        ("unknown role", {"roles": ["admin"]}),
        ("plural role", {"roles": ["parents"]}),
        ("roles not a list", {"roles": "parent"}),
        ("unknown priority", {"priority": "urgent"}),
        ("empty title", {"title": ""}),
        ("huge title", {"title": "x" * 201}),
        ("no body", {"body": None}),
        ("publish_at without a time zone", {"publish_at": "2030-01-01T10:00:00"}),
        ("publish_at not a date", {"publish_at": "tomorrow"}),
        ("publish_at past year 9999 in UTC", {"publish_at": "9999-12-31T23:00:00-05:00"}),
        ("publish_at before year 1 in UTC", {"publish_at": "0001-01-01T00:30:00+05:00"}),
        ("unknown field", {"audience": "everyone"}),
        ("too many classes", {"class_ids": [str(ObjectId()) for _ in range(201)]}),
    ],
)
async def test_bad_announcement_is_422(
    client: httpx.AsyncClient,
    campus: Campus,
    login_as: Login,
    case: str,
    fields: dict[str, Any],
) -> None:
    if fields.get("class_ids") == ["OTHER"]:
        fields = {"class_ids": [str(campus.other_school.classes[0].id)]}
    response = await announce(client, login_as(campus.people["admin"]), campus, **fields)
    assert response.status_code == 422, case
    assert await Announcement.find_all().count() == 0


async def test_unknown_school_is_404(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    admin = login_as(campus.people["admin"])
    response = await announce(client, admin, campus, school_id=str(ObjectId()))
    assert response.status_code == 404


async def test_malformed_school_id_in_the_body_is_422(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    response = await announce(client, login_as(campus.people["admin"]), campus, school_id="nope")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "school_id"]
    assert "24-character hexadecimal id" in error["msg"]


async def test_announcing_needs_a_login(client: httpx.AsyncClient, campus: Campus) -> None:
    response = await announce(client, {}, campus)
    assert response.status_code == 401


async def test_post_answers_what_get_reads_back(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    headers = login_as(campus.people["admin"])
    future = (datetime.now().astimezone() + timedelta(days=1)).isoformat()
    posted = (await announce(client, headers, campus, publish_at=future)).json()
    read = (await client.get(f"/announcements/{posted['id']}", headers=headers)).json()
    read.pop("stats")
    posted.pop("stats")
    assert read == posted


# --- Idempotency-Key ---------------------------------------------------------------------


async def test_same_key_and_body_returns_the_first_announcement_once(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    headers = login_as(campus.people["admin"])
    first = await announce(client, headers, campus, key="k-1")
    second = await announce(client, headers, campus, key="k-1")
    assert first.status_code == second.status_code == 202
    assert second.json()["id"] == first.json()["id"]
    assert await Announcement.find_all().count() == 1
    assert await inbox_ids(client, login_as(campus.people["s5a"])) == [first.json()["id"]]


async def test_same_key_with_another_body_is_409(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    headers = login_as(campus.people["admin"])
    first = await announce(client, headers, campus, key="k-2")
    response = await announce(client, headers, campus, key="k-2", title="Something else")
    assert response.status_code == 409
    assert await Announcement.find_all().count() == 1
    assert await inbox_ids(client, login_as(campus.people["s5a"])) == [first.json()["id"]]


async def test_keys_belong_to_their_author(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    class_5a = [str(campus.class_5a.id)]
    by_admin = await announce(
        client, login_as(campus.people["admin"]), campus, key="shared", class_ids=class_5a
    )
    by_teacher = await announce(
        client, login_as(campus.people["t5a"]), campus, key="shared", class_ids=class_5a
    )
    assert by_admin.status_code == by_teacher.status_code == 202
    assert by_admin.json()["id"] != by_teacher.json()["id"]


async def test_without_a_key_each_post_is_a_new_announcement(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    headers = login_as(campus.people["admin"])
    first = await announce(client, headers, campus)
    second = await announce(client, headers, campus)
    assert first.json()["id"] != second.json()["id"]
    assert sorted(await inbox_ids(client, login_as(campus.people["s5a"]))) == sorted(
        [first.json()["id"], second.json()["id"]]
    )


@pytest.mark.parametrize("key", ["", "k" * 201])
async def test_bad_idempotency_key_is_422(
    client: httpx.AsyncClient, campus: Campus, login_as: Login, key: str
) -> None:
    response = await announce(client, login_as(campus.people["admin"]), campus, key=key)
    assert response.status_code == 422
    assert await Announcement.find_all().count() == 0
