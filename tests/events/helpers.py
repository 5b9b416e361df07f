"""Creating events and answering them over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from app.auth.models import Role, User
from app.core.security import utcnow
from app.schools.models import GuardianLink
from tests.conftest import UserFactory, World

Login = Callable[[User], dict[str, str]]


def at(hours: float) -> str:
    return (utcnow() + timedelta(hours=hours)).isoformat()


def meeting(world: World, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "school_id": str(world.school.id),
        "title": "Parents' meeting",
        "place": "Room 12",
        "starts_at": at(72),
        "ends_at": at(73),
        "class_ids": [str(world.class_5a.id)],
    }
    body.update(fields)
    return body


async def create_event(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post("/events", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def answer(
    client: httpx.AsyncClient, event_id: str, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return await client.put(f"/events/{event_id}/rsvp", json=body, headers=headers)


async def inbox(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get(
        "/notifications", params={"topic": "events", "limit": 200}, headers=headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def family(world: World, make_user: UserFactory, **fields: object) -> User:
    """A parent linked to the world's student in 5A (a family the 5A events invite)."""
    parent = await make_user(Role.parent, **fields)
    assert parent.id is not None and world.student.id is not None
    await GuardianLink(parent_id=parent.id, student_id=world.student.id).insert()
    return parent


def starts(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["starts_at"])


class YieldingCollection:
    """A collection whose calls suspend before they run, as a real driver's do on I/O, so
    requests sent at once interleave at every database call (over mongomock each call
    otherwise runs to its end before another request gets a turn). With `meet` set, the
    first `find_one_and_update` of each of that many requests waits until all have reached
    it: the moment two families both see a free place."""

    SUSPENDING = frozenset({"find_one_and_update", "update_one", "find_one", "insert_one"})

    def __init__(self, inner: Any, *, meet: int = 0) -> None:
        self.inner = inner
        self.gate = asyncio.Barrier(meet) if meet else None
        self.arrived: set[asyncio.Task[Any] | None] = set()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name not in self.SUSPENDING:
            return attribute

        async def call(*args: Any, **kwargs: Any) -> Any:
            task = asyncio.current_task()
            if self.gate is not None and name == "find_one_and_update" and task not in self.arrived:
                self.arrived.add(task)
                await asyncio.wait_for(self.gate.wait(), timeout=10)
            await asyncio.sleep(0)
            return await attribute(*args, **kwargs)

        return call
