"""The in-app inbox over HTTP: list, page, filter, count, mark read."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId

from app.auth.models import User
from app.notifications.models import Notification
from tests.conftest import World
from tests.notifications.helpers import put_notification

Login = Callable[[User], dict[str, str]]
T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


async def _inbox_of_five(user: User) -> list[Notification]:
    """Five notifications a minute apart, oldest first; the 2nd and 4th are grades."""
    topics = [
        "announcements",
        "grades",
        "announcements",
        "grades",
        "announcements",
    ]
    return [
        await put_notification(user, key=f"n{i}", topic=topic, created_at=T0 + timedelta(minutes=i))
        for i, topic in enumerate(topics)
    ]


def _cursor(when: str) -> str:
    raw = json.dumps([when, str(ObjectId())]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _titles(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


async def test_inbox_is_newest_first_and_only_mine(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    await _inbox_of_five(world.parent)
    await put_notification(world.student, key="not-yours")
    # Stored only for its email (in-app switched off): never in the inbox.
    await put_notification(
        world.parent, key="hidden", in_app=False, created_at=T0 + timedelta(hours=1)
    )
    response = await client.get("/notifications", headers=login_as(world.parent))
    assert _titles(response) == [f"title n{i}" for i in (4, 3, 2, 1, 0)]
    assert response.json()["next_cursor"] is None
    item = response.json()["items"][0]
    assert set(item) == {
        "id",
        "topic",
        "priority",
        "title",
        "body",
        "data",
        "email_decision",
        "created_at",
        "read_at",
    }


async def test_cursor_walks_every_page_once(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    await _inbox_of_five(world.parent)
    # Two more in the very same millisecond: the cursor must break the tie by id.
    same = T0 + timedelta(minutes=10)
    await put_notification(world.parent, key="tie-a", created_at=same)
    await put_notification(world.parent, key="tie-b", created_at=same)
    headers = login_as(world.parent)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = await client.get("/notifications", params=params, headers=headers)
        seen += _titles(response)
        pages += 1
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
    assert pages == 4
    assert seen == ["title tie-b", "title tie-a"] + [f"title n{i}" for i in (4, 3, 2, 1, 0)]


async def test_unread_only_and_topic_filters(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    headers = login_as(world.parent)
    notes = await _inbox_of_five(world.parent)
    await client.post(f"/notifications/{notes[4].id}/read", headers=headers)
    await client.post(f"/notifications/{notes[1].id}/read", headers=headers)

    unread = await client.get("/notifications", params={"unread_only": "true"}, headers=headers)
    assert _titles(unread) == ["title n3", "title n2", "title n0"]
    grades = await client.get("/notifications", params={"topic": "grades"}, headers=headers)
    assert _titles(grades) == ["title n3", "title n1"]
    both = await client.get(
        "/notifications", params={"topic": "announcements", "unread_only": "true"}, headers=headers
    )
    assert _titles(both) == ["title n2", "title n0"]


@pytest.mark.parametrize(
    "params",
    [
        {"topic": "sport"},
        {"unread_only": "perhaps"},
        {"limit": 0},
        {"limit": 201},
        {"cursor": "not a cursor"},
        {"cursor": base64.urlsafe_b64encode(b"[1, 2]").decode()},
        {
            "cursor": base64.urlsafe_b64encode(
                json.dumps(["2025-01-01T00:00:00+00:00", "x"]).encode()
            ).decode()
        },
        # Valid ISO times whose offset puts them outside years 1..9999 in UTC.
        {"cursor": _cursor("9999-12-31T23:00:00-05:00")},
        {"cursor": _cursor("0001-01-01T00:30:00+05:00")},
        {"cursor": base64.urlsafe_b64encode(b"7").decode()},
        {"cursor": "x" * 600},
    ],
)
async def test_bad_inbox_query_is_422(
    client: httpx.AsyncClient, world: World, login_as: Login, params: dict[str, Any]
) -> None:
    await _inbox_of_five(world.parent)
    response = await client.get("/notifications", params=params, headers=login_as(world.parent))
    assert response.status_code == 422


async def test_unread_count_and_marking_read(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    headers = login_as(world.parent)
    notes = await _inbox_of_five(world.parent)
    await put_notification(world.parent, key="hidden", in_app=False)

    async def count() -> int:
        response = await client.get("/notifications/unread-count", headers=headers)
        assert response.status_code == 200
        return int(response.json()["count"])

    assert await count() == 5
    response = await client.post(f"/notifications/{notes[2].id}/read", headers=headers)
    assert response.status_code == 204
    assert await count() == 4
    stored = await Notification.get(notes[2].id)
    assert stored is not None and stored.read_at is not None
    first_read = stored.read_at

    # Reading again is fine and keeps the first read time.
    response = await client.post(f"/notifications/{notes[2].id}/read", headers=headers)
    assert response.status_code == 204
    assert await count() == 4
    again = await Notification.get(notes[2].id)
    assert again is not None and again.read_at == first_read

    listed = await client.get("/notifications", headers=headers)
    read_at = {item["title"]: item["read_at"] for item in listed.json()["items"]}
    assert read_at["title n2"] is not None
    assert read_at["title n1"] is None


async def test_marking_someone_elses_notification_is_404(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    theirs = await put_notification(world.student, key="theirs")
    response = await client.post(f"/notifications/{theirs.id}/read", headers=login_as(world.parent))
    assert response.status_code == 404
    stored = await Notification.get(theirs.id)
    assert stored is not None and stored.read_at is None


@pytest.mark.parametrize("notification_id", ["nope", str(ObjectId())])
async def test_marking_malformed_or_unknown_id_is_404(
    client: httpx.AsyncClient, world: World, login_as: Login, notification_id: str
) -> None:
    response = await client.post(
        f"/notifications/{notification_id}/read", headers=login_as(world.parent)
    )
    assert response.status_code == 404


async def test_a_notification_hidden_from_the_inbox_cannot_be_marked(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    hidden = await put_notification(world.parent, key="hidden", in_app=False)
    response = await client.post(f"/notifications/{hidden.id}/read", headers=login_as(world.parent))
    assert response.status_code == 404


async def test_read_all_marks_only_my_inbox(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    await _inbox_of_five(world.parent)
    theirs = await put_notification(world.student, key="theirs")
    headers = login_as(world.parent)
    response = await client.post("/notifications/read-all", headers=headers)
    assert response.status_code == 204
    count = await client.get("/notifications/unread-count", headers=headers)
    assert count.json() == {"count": 0}
    unread = await client.get("/notifications", params={"unread_only": True}, headers=headers)
    assert unread.json()["items"] == []
    assert len(_titles(await client.get("/notifications", headers=headers))) == 5
    stored = await Notification.get(theirs.id)
    assert stored is not None and stored.read_at is None
    other = await client.get("/notifications/unread-count", headers=login_as(world.student))
    assert other.json() == {"count": 1}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/notifications"),
        ("get", "/notifications/unread-count"),
        ("post", "/notifications/read-all"),
        ("post", f"/notifications/{ObjectId()}/read"),
    ],
)
async def test_inbox_needs_a_login(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path)
    assert response.status_code == 401
