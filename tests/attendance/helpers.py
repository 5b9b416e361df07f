"""Small builders shared by the attendance tests."""

from __future__ import annotations

from typing import Any

import httpx

from app.auth.models import Role, User
from app.schools.models import School
from tests.conftest import UserFactory, World
from tests.homework.helpers import school_day


def register_path(world: World, day: str) -> str:
    return f"/schools/{world.school.id}/classes/{world.class_5a.id}/attendance/{day}"


async def mark(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    world: World,
    marks: list[dict[str, Any]],
    *,
    day: str | None = None,
    period: int | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"marks": marks}
    if period is not None:
        body["period"] = period
    return await client.put(
        register_path(world, day or school_day(world)), json=body, headers=headers
    )


def absent(user: User, **fields: Any) -> dict[str, Any]:
    return {"student_id": str(user.id), "status": "absent", **fields}


async def other_school_admin(make_user: UserFactory) -> User:
    elsewhere = School(name="Elsewhere")
    await elsewhere.insert()
    assert elsewhere.id is not None
    return await make_user(Role.admin, school_ids=[elsewhere.id])
