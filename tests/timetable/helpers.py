"""Small builders shared by the timetable tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx

from app.auth.models import User
from tests.conftest import World
from tests.grades.helpers import school_today

Login = Callable[[User], dict[str, str]]
MATH_NAMES = {"ru": "Математика", "en": "Mathematics"}


def iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def base(world: World) -> str:
    return f"/schools/{world.school.id}/classes/{world.class_5a.id}"


def lesson(world: World, weekday: int, period: int = 1, **fields: Any) -> dict[str, Any]:
    starts = f"{7 + period:02d}:30"
    body: dict[str, Any] = {
        "weekday": weekday,
        "period": period,
        "starts": starts,
        "ends": f"{8 + period:02d}:15",
        "subject": "Math",
        "teacher_id": str(world.teacher.id),
        "room": "12",
    }
    body.update(fields)
    return body


def every_day(world: World) -> list[dict[str, Any]]:
    """Maths first thing every day of the week, so any date has lesson 1."""
    return [lesson(world, weekday) for weekday in range(1, 8)]


async def put_week(
    client: httpx.AsyncClient, login_as: Login, world: World, lessons: list[dict[str, Any]]
) -> httpx.Response:
    return await client.put(
        f"{base(world)}/timetable", json={"lessons": lessons}, headers=login_as(world.admin)
    )


async def name_maths(client: httpx.AsyncClient, login_as: Login, world: World) -> None:
    response = await client.put(
        f"/schools/{world.school.id}/subjects",
        json={"subjects": [{"code": "math", "names": MATH_NAMES}]},
        headers=login_as(world.admin),
    )
    assert response.status_code == 200, response.text


async def post_change(
    client: httpx.AsyncClient, login_as: Login, world: World, **fields: Any
) -> httpx.Response:
    body: dict[str, Any] = {"date": school_today(world).isoformat(), "period": 1}
    body.update(fields)
    return await client.post(
        f"{base(world)}/timetable/changes", json=body, headers=login_as(world.admin)
    )


def lessons_on(week: dict[str, Any], day: dt.date) -> list[dict[str, Any]]:
    (found,) = [d for d in week["days"] if d["date"] == day.isoformat()]
    lessons: list[dict[str, Any]] = found["lessons"]
    return lessons
