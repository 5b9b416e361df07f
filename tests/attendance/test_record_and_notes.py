"""A student's attendance record with its totals, and absence notes: sent by a linked parent,
accepted (the day excused) or declined by the class's teacher or the school's admin."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.auth.models import Role, User
from app.schools.models import School
from tests.attendance.helpers import absent, mark, other_school_admin, school_day
from tests.conftest import UserFactory, World
from tests.grades.helpers import add_class, assign_teacher

Login = Callable[[User], dict[str, str]]


def late(user: User) -> dict[str, Any]:
    return {"student_id": str(user.id), "status": "late"}


def excused(user: User) -> dict[str, Any]:
    return {"student_id": str(user.id), "status": "excused", "note": "dentist"}


async def record(
    client: httpx.AsyncClient, headers: dict[str, str], world: World, **params: Any
) -> httpx.Response:
    return await client.get(
        f"/students/{world.student.id}/attendance", params=params, headers=headers
    )


async def a_week_of_marks(client: httpx.AsyncClient, world: World, login_as: Login) -> None:
    teacher = login_as(world.teacher)
    await mark(client, teacher, world, [absent(world.student)], day=school_day(world, -6))
    await mark(client, teacher, world, [late(world.student)], day=school_day(world, -3), period=1)
    await mark(client, teacher, world, [absent(world.student)], day=school_day(world, -3), period=4)
    await mark(client, teacher, world, [excused(world.student)], day=school_day(world, -1))
    # Marked, then taken back: attended, so in neither the items nor the totals.
    await mark(client, teacher, world, [absent(world.student)], day=school_day(world, -2))
    await mark(client, teacher, world, [], day=school_day(world, -2))


async def test_the_record_lists_newest_first_with_totals(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    await a_week_of_marks(client, world, login_as)

    response = await record(client, login_as(world.parent), world)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["totals"] == {"absent": 2, "late": 1, "excused": 1}
    assert [(i["date"], i["period"], i["status"]) for i in body["items"]] == [
        (school_day(world, -1), None, "excused"),
        (school_day(world, -3), 1, "late"),
        (school_day(world, -3), 4, "absent"),
        (school_day(world, -6), None, "absent"),
    ]
    assert body["items"][0]["note"] == "dentist"


async def test_the_record_keeps_to_its_dates(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    await a_week_of_marks(client, world, login_as)
    response = await record(
        client,
        login_as(world.student),
        world,
        **{"from": school_day(world, -4), "to": school_day(world, -3)},
    )
    assert response.json()["totals"] == {"absent": 1, "late": 1, "excused": 0}
    assert len(response.json()["items"]) == 2


async def test_todays_marks_are_in_the_record_wherever_the_school_is(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    # Kiribati is 14 hours ahead of UTC: from 10:00 UTC on, its today is UTC's tomorrow,
    # and a record read with no dates still ends at the school's today.
    await School.find_one({"_id": world.school.id}).update(
        {"$set": {"timezone": "Pacific/Kiritimati"}}
    )
    world.school.timezone = "Pacific/Kiritimati"
    marked = await mark(client, login_as(world.teacher), world, [absent(world.student)])
    assert marked.status_code == 200, marked.text
    response = await record(client, login_as(world.parent), world)
    assert [i["date"] for i in response.json()["items"]] == [school_day(world)]
    assert response.json()["totals"] == {"absent": 1, "late": 0, "excused": 0}


@pytest.mark.parametrize("who", ["student", "parent", "teacher", "admin"])
async def test_the_students_circle_reads_the_record(
    client: httpx.AsyncClient, world: World, login_as: Login, who: str
) -> None:
    response = await record(client, login_as(getattr(world, who)), world)
    assert response.status_code == 200
    assert response.json()["totals"] == {"absent": 0, "late": 0, "excused": 0}


async def test_others_may_not_read_the_record(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    for user in (
        await make_user(Role.parent),
        await make_user(Role.student, school_ids=[world.school.id]),
        await make_user(Role.teacher, school_ids=[world.school.id]),
        await other_school_admin(make_user),
    ):
        assert (await record(client, login_as(user), world)).status_code == 403, user.role
    assert (await record(client, {}, world)).status_code == 401


async def test_bad_record_dates_are_422(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    parent = login_as(world.parent)
    backwards = await record(
        client, parent, world, **{"from": school_day(world), "to": school_day(world, -1)}
    )
    assert backwards.status_code == 422 and "from is after to" in backwards.text
    too_long = await record(client, parent, world, **{"from": "2020-01-01", "to": "2026-01-01"})
    assert too_long.status_code == 422 and "366 days" in too_long.text
    assert (await record(client, parent, world, to="yesterday")).status_code == 422
    # A year's window back from the first day there is: the days there are, not a 500.
    first_days = await record(client, parent, world, to="0001-01-02")
    assert first_days.status_code == 200 and first_days.json()["items"] == []


# --- absence notes ------------------------------------------------------------------------


async def send_note(
    client: httpx.AsyncClient, headers: dict[str, str], world: World, **fields: Any
) -> httpx.Response:
    body = {"date": school_day(world, -1), "reason": "A fever; the doctor's note follows"}
    body.update(fields)
    return await client.post(
        f"/students/{world.student.id}/absence-notes", json=body, headers=headers
    )


async def decide(
    client: httpx.AsyncClient, headers: dict[str, str], note_id: str, status: str
) -> httpx.Response:
    return await client.patch(f"/absence-notes/{note_id}", json={"status": status}, headers=headers)


async def test_an_accepted_note_excuses_the_days_absences(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    yesterday = school_day(world, -1)
    teacher = login_as(world.teacher)
    await mark(client, teacher, world, [absent(world.student)], day=yesterday, period=1)
    await mark(client, teacher, world, [absent(world.student)], day=yesterday, period=2)

    sent = await send_note(client, login_as(world.parent), world, date=yesterday)
    assert sent.status_code == 201, sent.text
    note = sent.json()
    assert note["status"] == "pending" and note["class_id"] == str(world.class_5a.id)
    assert note["parent_id"] == str(world.parent.id) and note["date"] == yesterday

    accepted = await decide(client, teacher, note["id"], "accepted")

    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["decided_by"] == str(world.teacher.id)
    body = (await record(client, login_as(world.parent), world)).json()
    assert body["totals"] == {"absent": 0, "late": 0, "excused": 2}
    assert {i["note"] for i in body["items"]} == {"A fever; the doctor's note follows"}


async def test_an_accepted_note_for_an_unmarked_day_excuses_the_whole_day(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    note = (await send_note(client, login_as(world.parent), world)).json()
    assert (await decide(client, login_as(world.admin), note["id"], "accepted")).status_code == 200
    [item] = (await record(client, login_as(world.student), world)).json()["items"]
    assert (item["date"], item["period"], item["status"]) == (
        school_day(world, -1),
        None,
        "excused",
    )


async def test_a_declined_note_leaves_the_absence(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    teacher = login_as(world.teacher)
    await mark(client, teacher, world, [absent(world.student)], day=school_day(world, -1))
    note = (await send_note(client, login_as(world.parent), world)).json()

    declined = await decide(client, teacher, note["id"], "declined")

    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    totals = (await record(client, login_as(world.parent), world)).json()["totals"]
    assert totals == {"absent": 1, "late": 0, "excused": 0}
    again = await decide(client, teacher, note["id"], "accepted")
    assert again.status_code == 409 and "already declined" in again.text


async def test_two_decisions_at_once_one_wins(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    note = (await send_note(client, login_as(world.parent), world)).json()
    responses = await asyncio.gather(
        decide(client, login_as(world.teacher), note["id"], "accepted"),
        decide(client, login_as(world.admin), note["id"], "declined"),
    )
    assert sorted(r.status_code for r in responses) == [200, 409]


async def test_only_a_linked_parent_sends_a_note(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    for user in (
        world.student,
        world.teacher,
        world.admin,
        await make_user(Role.parent),
    ):
        response = await send_note(client, login_as(user), world)
        assert response.status_code == 403, user.role
    assert (await send_note(client, {}, world)).status_code == 401
    unknown = await client.post(
        "/students/6571f0b2c8a1d2e3f4a5b6c7/absence-notes",
        json={"date": school_day(world), "reason": "ill"},
        headers=login_as(world.parent),
    )
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"reason": ""}, "reason"),
        ({"reason": "ill\u202e"}, "control or text-direction"),
        ({"date": "soon"}, "date"),
        ({"to": "teacher"}, "to"),
    ],
)
async def test_a_bad_note_is_422_saying_what_is_wrong(
    client: httpx.AsyncClient, world: World, login_as: Login, fields: dict[str, Any], says: str
) -> None:
    response = await send_note(client, login_as(world.parent), world, **fields)
    assert response.status_code == 422 and says in response.text


async def test_a_note_too_far_ahead_or_for_a_child_in_no_class_is_422(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    ahead = await send_note(client, login_as(world.parent), world, date=school_day(world, 40))
    assert ahead.status_code == 422 and "more than a month ahead" in ahead.text
    await client.delete(
        f"/schools/{world.school.id}/classes/{world.class_5a.id}/students/{world.student.id}",
        headers=login_as(world.admin),
    )
    classless = await send_note(client, login_as(world.parent), world)
    assert classless.status_code == 422 and "in no class" in classless.text


async def test_who_may_not_decide_a_note(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    note = (await send_note(client, login_as(world.parent), world)).json()
    other_class = await add_class(world, "6B")
    elsewhere_teacher = await make_user(Role.teacher, school_ids=[world.school.id])
    await assign_teacher(world, elsewhere_teacher, ["math"], other_class.id)
    for user in (
        world.parent,
        world.student,
        elsewhere_teacher,
        await other_school_admin(make_user),
    ):
        response = await decide(client, login_as(user), note["id"], "accepted")
        assert response.status_code == 403, user.role
    unknown = await decide(client, login_as(world.teacher), "6571f0b2c8a1d2e3f4a5b6c7", "accepted")
    assert unknown.status_code == 404
    bad = await decide(client, login_as(world.teacher), note["id"], "maybe")
    assert bad.status_code == 422
