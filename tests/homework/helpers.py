"""Small builders shared by the homework tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from tests.conftest import World
from tests.grades.helpers import school_today


def school_day(world: World, days: int = 0) -> str:
    """A day at the school, `days` after today there."""
    return (school_today(world) + dt.timedelta(days=days)).isoformat()


async def set_homework(
    client: httpx.AsyncClient, headers: dict[str, str], world: World, **fields: Any
) -> httpx.Response:
    body: dict[str, Any] = {
        "class_id": str(world.class_5a.id),
        "subject": "math",
        "due": school_day(world, 1),
        "text": "Exercises 12-15 on page 40",
    }
    body.update(fields)
    return await client.post("/homework", json=body, headers=headers)


async def homework_set(
    client: httpx.AsyncClient, headers: dict[str, str], world: World, **fields: Any
) -> dict[str, Any]:
    response = await set_homework(client, headers, world, **fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def name_math(client: httpx.AsyncClient, admin_headers: dict[str, str], world: World) -> None:
    """The school names its maths in both languages, as the demo school does."""
    response = await client.put(
        f"/schools/{world.school.id}/subjects",
        json={"subjects": [{"code": "math", "names": {"ru": "Математика", "en": "Mathematics"}}]},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
