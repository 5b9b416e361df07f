"""Who reads a student's school day (week, homework, attendance) when the student sits in
no class any more, or is not there at all: the student, their classes and the reader's
relation are read in one question, which must still tell these apart."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from beanie import PydanticObjectId

from app.auth.models import Role, User
from tests.attendance.helpers import absent, mark, school_day
from tests.conftest import UserFactory, World

Login = Callable[[User], dict[str, str]]

ROUTES = ("attendance", "homework", "timetable")


async def take_off_the_roster(client: httpx.AsyncClient, world: World, login_as: Login) -> None:
    removed = await client.delete(
        f"/schools/{world.school.id}/classes/{world.class_5a.id}/students/{world.student.id}",
        headers=login_as(world.admin),
    )
    assert removed.status_code == 204, removed.text


async def test_a_child_in_no_class_keeps_their_record_for_their_parent(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    marked = await mark(client, login_as(world.teacher), world, [absent(world.student)])
    assert marked.status_code == 200, marked.text
    await take_off_the_roster(client, world, login_as)
    parent = login_as(world.parent)

    record = await client.get(f"/students/{world.student.id}/attendance", headers=parent)
    homework = await client.get(f"/students/{world.student.id}/homework", headers=parent)
    week = await client.get(f"/students/{world.student.id}/timetable", headers=parent)

    assert record.status_code == 200, record.text
    assert [(i["date"], i["status"]) for i in record.json()["items"]] == [
        (school_day(world), "absent")
    ]
    assert homework.status_code == 200 and homework.json()["items"] == []
    assert week.status_code == 200
    assert all(day["lessons"] == [] for day in week.json()["days"])


@pytest.mark.parametrize("route", ROUTES)
async def test_a_child_in_no_class_is_no_longer_their_teachers(
    client: httpx.AsyncClient, world: World, login_as: Login, route: str
) -> None:
    await take_off_the_roster(client, world, login_as)
    answer = await client.get(
        f"/students/{world.student.id}/{route}", headers=login_as(world.teacher)
    )
    assert answer.status_code == 403, answer.text


@pytest.mark.parametrize("route", ROUTES)
async def test_no_such_student_is_404_before_any_refusal(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    route: str,
) -> None:
    stranger = await make_user(Role.parent)
    for path in (f"/students/{PydanticObjectId()}/{route}", f"/students/not-an-id/{route}"):
        for user in (world.parent, world.teacher, world.admin, world.student, stranger):
            answer = await client.get(path, headers=login_as(user))
            assert answer.status_code == 404, (path, user.role, answer.text)
            assert answer.json()["detail"] == "Student not found"
    # A teacher is not a student, whoever asks.
    answer = await client.get(
        f"/students/{world.teacher.id}/{route}", headers=login_as(world.admin)
    )
    assert answer.status_code == 404
