"""The school's admin sets a class's week; everyone else is refused, and a week that cannot
be (an end before its start, a period twice on a day, a teacher who does not teach the
class) is a 422 that says what is wrong."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from app.auth.models import Role
from app.schools.models import School
from tests.conftest import UserFactory, World
from tests.timetable.helpers import Login, base, every_day, lesson, put_week


def detail_text(response: httpx.Response) -> str:
    return str(response.json()["detail"])


async def test_admin_replaces_the_week_and_reads_it_back(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    first = await put_week(client, login_as, world, every_day(world))
    assert first.status_code == 200, first.text
    assert len(first.json()["lessons"]) == 7

    week = [lesson(world, 3, 2, subject="  MATH ", room=None), lesson(world, 1)]
    response = await put_week(client, login_as, world, week)
    assert response.status_code == 200, response.text
    # Replaced, not added to; in weekday and period order; subjects stored as their code.
    assert [(x["weekday"], x["period"], x["subject"]) for x in response.json()["lessons"]] == [
        (1, 1, "math"),
        (3, 2, "math"),
    ]
    read = await client.get(f"{base(world)}/timetable", headers=login_as(world.admin))
    assert read.status_code == 200
    assert read.json() == response.json()


async def test_two_weeks_put_at_once_leave_one_of_them_whole(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    mondays = [lesson(world, 1, period) for period in range(1, 7)]
    fridays = [lesson(world, 5, period) for period in range(1, 7)]
    first, second = await asyncio.gather(
        put_week(client, login_as, world, mondays), put_week(client, login_as, world, fridays)
    )
    assert first.status_code == second.status_code == 200
    read = await client.get(f"{base(world)}/timetable", headers=login_as(world.admin))
    weekdays = {x["weekday"] for x in read.json()["lessons"]}
    assert weekdays in ({1}, {5})
    assert len(read.json()["lessons"]) == 6


async def test_an_empty_week_clears_the_timetable(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    await put_week(client, login_as, world, every_day(world))
    response = await put_week(client, login_as, world, [])
    assert response.status_code == 200
    assert response.json()["lessons"] == []


async def test_a_class_without_a_timetable_reads_as_404(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    response = await client.get(f"{base(world)}/timetable", headers=login_as(world.admin))
    assert response.status_code == 404
    assert "no timetable" in response.json()["detail"]


@pytest.mark.parametrize("who", ["teacher", "student", "parent"])
async def test_only_the_school_admin_sets_the_week(
    client: httpx.AsyncClient, world: World, login_as: Login, who: str
) -> None:
    response = await client.put(
        f"{base(world)}/timetable",
        json={"lessons": every_day(world)},
        headers=login_as(getattr(world, who)),
    )
    assert response.status_code == 403


async def test_another_schools_admin_and_nobody_are_refused(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    other = School(name="Other school")
    await other.insert()
    stranger = await make_user(Role.admin, school_ids=[other.id])
    body = {"lessons": every_day(world)}
    refused = await client.put(f"{base(world)}/timetable", json=body, headers=login_as(stranger))
    assert refused.status_code == 403
    assert (await client.put(f"{base(world)}/timetable", json=body)).status_code == 401
    # Their own school, our class id: no such class there.
    missing = await client.put(
        f"/schools/{other.id}/classes/{world.class_5a.id}/timetable",
        json=body,
        headers=login_as(stranger),
    )
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"starts": "10:00", "ends": "09:15"}, "ends 09:15 is not after starts 10:00"),
        ({"starts": "09:00", "ends": "09:00"}, "ends 09:00 is not after starts 09:00"),
        ({"starts": "8:30"}, "'8:30' is not a time of day as HH:MM"),
        ({"ends": "24:10"}, "'24:10' is not a time of day as HH:MM"),
        ({"starts": "noon"}, "'noon' is not a time of day as HH:MM"),
        ({"weekday": 8}, "less than or equal to 7"),
        ({"period": 0}, "greater than or equal to 1"),
        ({"subject": "Math\u202e"}, "subject"),
        ({"teacher_id": "nope"}, "teacher_id"),
    ],
)
async def test_a_bad_lesson_is_422_saying_what(
    client: httpx.AsyncClient, world: World, login_as: Login, change: dict[str, Any], says: str
) -> None:
    response = await put_week(
        client, login_as, world, [lesson(world, 1), {**lesson(world, 2), **change}]
    )
    assert response.status_code == 422, response.text
    assert says in detail_text(response)


async def test_a_period_twice_on_one_day_is_422(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    response = await put_week(
        client, login_as, world, [lesson(world, 2, 3), lesson(world, 2, 3, room="14")]
    )
    assert response.status_code == 422
    assert "period 3 appears twice on weekday 2" in detail_text(response)


async def test_a_teacher_who_does_not_teach_the_class_or_the_subject_is_422(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    outsider = await make_user(Role.teacher, school_ids=[world.school.id])
    response = await put_week(
        client, login_as, world, [lesson(world, 1, teacher_id=str(outsider.id))]
    )
    assert response.status_code == 422
    assert f"teacher {outsider.id} does not teach class 5A" in response.json()["detail"]

    response = await put_week(client, login_as, world, [lesson(world, 1, subject="History")])
    assert response.status_code == 422
    assert "does not teach History in class 5A" in response.json()["detail"]
    # Nothing of a refused week was kept.
    read = await client.get(f"{base(world)}/timetable", headers=login_as(world.admin))
    assert read.status_code == 404
