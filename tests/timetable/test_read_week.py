"""The week a student's circle and a teacher read: lessons by date with the changes applied,
subjects named in the reader's language; everyone else refused; a bad week string a 422
that says the form expected."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from app.auth.models import Locale, Role, User
from app.schools.models import GuardianLink, School, SchoolClass, TeacherAssignment
from tests.conftest import UserFactory, World
from tests.timetable.helpers import (
    Login,
    every_day,
    iso_week,
    lesson,
    lessons_on,
    name_maths,
    post_change,
    put_week,
    school_today,
)


async def read(
    client: httpx.AsyncClient, login_as: Login, reader: User, path: str, week: str | None = None
) -> httpx.Response:
    params = {"week": week} if week is not None else {}
    return await client.get(path, params=params, headers=login_as(reader))


async def ok(
    client: httpx.AsyncClient, login_as: Login, reader: User, path: str, week: str | None = None
) -> dict[str, Any]:
    response = await read(client, login_as, reader, path, week)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def week(client: httpx.AsyncClient, world: World, login_as: Login) -> None:
    lessons = [*every_day(world), lesson(world, 3, 2, room=None)]
    assert (await put_week(client, login_as, world, lessons)).status_code == 200
    await name_maths(client, login_as, world)


@pytest.mark.usefixtures("week")
async def test_the_student_circle_reads_this_week_with_a_change_applied(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    await User.find_one({"_id": world.parent.id}).update({"$set": {"locale": Locale.ru.value}})
    today = school_today(world)
    stand_in = await make_user(Role.teacher, school_ids=[world.school.id])
    changed = await post_change(
        client, login_as, world, kind="substitute", teacher_id=str(stand_in.id)
    )
    assert changed.status_code == 201, changed.text
    await post_change(client, login_as, world, kind="room", room="Gym")
    path = f"/students/{world.student.id}/timetable"

    for reader, maths in (
        (world.student, "Mathematics"),
        (world.parent, "Математика"),
        (world.teacher, "Mathematics"),
        (world.admin, "Mathematics"),
    ):
        body = await ok(client, login_as, reader, path)  # no week: this week at the school
        assert body["week"] == iso_week(today)
        assert len(body["days"]) == 7
        first, *_ = lessons_on(body, today)
        assert first["subject"] == "math" and first["subject_name"] == maths
        assert first["teacher_id"] == str(stand_in.id) and first["room"] == "Gym"
        assert first["class_name"] == "5A" and first["cancelled"] is False
        assert first["change"] == {
            "kinds": ["substitute", "room"],
            "was": {
                "starts": "08:30",
                "ends": "09:15",
                "teacher_id": str(world.teacher.id),
                "room": "12",
            },
        }
    # Wednesday has two lessons, in order; the other days one, unchanged except today.
    body = await ok(client, login_as, world.student, path, iso_week(today))
    for day in body["days"]:
        weekday = dt.date.fromisoformat(day["date"]).isoweekday()
        assert [x["period"] for x in day["lessons"]] == ([1, 2] if weekday == 3 else [1])
        if day["date"] != today.isoformat():
            assert all(x["change"] is None for x in day["lessons"])


@pytest.mark.usefixtures("week")
async def test_a_cancelled_and_retimed_lesson_reads_so_and_other_weeks_do_not(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    today = school_today(world)
    await post_change(client, login_as, world, kind="time", starts="12:00", ends="12:45")
    await post_change(client, login_as, world, kind="time", starts="13:00", ends="13:45")
    await post_change(
        client,
        login_as,
        world,
        kind="cancelled",
        period=1,
        date=(today + dt.timedelta(days=1)).isoformat(),
    )
    path = f"/students/{world.student.id}/timetable"
    body = await ok(client, login_as, world.student, path, iso_week(today))
    (moved,) = [x for x in lessons_on(body, today) if x["period"] == 1]
    # The newest change of a kind holds.
    assert (moved["starts"], moved["ends"]) == ("13:00", "13:45")
    if (today + dt.timedelta(days=1)).isocalendar()[1] == today.isocalendar()[1]:
        (off, *_) = lessons_on(body, today + dt.timedelta(days=1))
        assert off["cancelled"] is True and off["change"]["kinds"] == ["cancelled"]
    later = await ok(client, login_as, world.student, path, iso_week(today + dt.timedelta(days=14)))
    assert all(x["change"] is None for d in later["days"] for x in d["lessons"])


@pytest.mark.usefixtures("week")
async def test_strangers_to_the_student_are_refused(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    other = School(name="Other school")
    await other.insert()
    other_admin = await make_user(Role.admin, school_ids=[other.id])
    other_teacher = await make_user(Role.teacher, school_ids=[world.school.id])
    other_student = await make_user(Role.student, school_ids=[world.school.id])
    other_parent = await make_user(Role.parent)
    assert other_parent.id and other_student.id
    await GuardianLink(parent_id=other_parent.id, student_id=other_student.id).insert()
    path = f"/students/{world.student.id}/timetable"
    for reader in (other_admin, other_teacher, other_student, other_parent):
        assert (await read(client, login_as, reader, path)).status_code == 403, reader.role
    assert (await client.get(path)).status_code == 401
    missing = await read(client, login_as, world.admin, f"/students/{world.teacher.id}/timetable")
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("week", "says"),
    [
        ("2026-49", "is not an ISO week as YYYY-Www, e.g. 2026-W49"),
        ("W49", "is not an ISO week as YYYY-Www"),
        ("2026-W7", "is not an ISO week as YYYY-Www"),
        ("2026-W54", "2026 has no week 54"),
        ("2025-W53", "2025 has no week 53"),
        ("2026-W00", "2026 has no week 0"),
        ("9999-W52", "ends after the last day there is"),
    ],
)
async def test_a_bad_week_is_422_saying_the_form(
    client: httpx.AsyncClient, world: World, login_as: Login, week: str, says: str
) -> None:
    for path in (
        f"/students/{world.student.id}/timetable",
        f"/teachers/{world.teacher.id}/timetable",
    ):
        response = await read(client, login_as, world.admin, path, week)
        assert response.status_code == 422, response.text
        assert says in response.json()["detail"]


async def test_a_student_without_a_class_or_timetable_reads_an_empty_week(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    body = await ok(
        client, login_as, world.student, f"/students/{world.student.id}/timetable", "2026-W53"
    )
    assert body["week"] == "2026-W53"
    assert [d["date"] for d in body["days"]] == [
        (dt.date(2026, 12, 28) + dt.timedelta(days=n)).isoformat() for n in range(7)
    ]
    assert all(d["lessons"] == [] for d in body["days"])


@pytest.mark.usefixtures("week")
async def test_a_teacher_reads_their_lessons_and_those_they_stand_in_for(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    today = school_today(world)
    # A second class, 6B, taught by another teacher; ours stands in there today.
    colleague = await make_user(Role.teacher, school_ids=[world.school.id])
    assert colleague.id and world.teacher.id
    school = await School.get(world.school.id)
    assert school is not None
    class_6b = SchoolClass(
        name="6B", teachers=[TeacherAssignment(teacher_id=colleague.id, subjects=["math"])]
    )
    school.classes.append(class_6b)
    await school.save()
    six_b = f"/schools/{world.school.id}/classes/{class_6b.id}"
    put = await client.put(
        f"{six_b}/timetable",
        json={
            "lessons": [
                {**lesson(world, w, 3), "teacher_id": str(colleague.id)} for w in range(1, 8)
            ]
        },
        headers=login_as(world.admin),
    )
    assert put.status_code == 200, put.text
    sub = await client.post(
        f"{six_b}/timetable/changes",
        json={
            "date": today.isoformat(),
            "period": 3,
            "kind": "substitute",
            "teacher_id": str(world.teacher.id),
        },
        headers=login_as(world.admin),
    )
    assert sub.status_code == 201, sub.text
    path = f"/teachers/{world.teacher.id}/timetable"
    for reader in (world.teacher, world.admin):
        body = await ok(client, login_as, reader, path, iso_week(today))
        on_today = lessons_on(body, today)
        assert [(x["class_name"], x["period"]) for x in on_today] == (
            [("5A", 1), ("5A", 2), ("6B", 3)] if today.isoweekday() == 3 else [("5A", 1), ("6B", 3)]
        )
        assert on_today[-1]["change"]["kinds"] == ["substitute"]
        assert on_today[0]["subject_name"] == "Mathematics"
        tomorrow = today + dt.timedelta(days=1)
        if tomorrow.isocalendar()[1] == today.isocalendar()[1]:
            # 5A has a second lesson on Wednesdays (the fixture's period 2).
            expected = ["5A", "5A"] if tomorrow.isoweekday() == 3 else ["5A"]
            assert [x["class_name"] for x in lessons_on(body, tomorrow)] == expected
    # The colleague still sees the lesson someone else gives in their place.
    theirs = await ok(client, login_as, colleague, f"/teachers/{colleague.id}/timetable")
    (given_away,) = lessons_on(theirs, today)
    assert given_away["teacher_id"] == str(world.teacher.id)


@pytest.mark.usefixtures("week")
async def test_only_the_teacher_and_their_admin_read_a_teachers_week(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    other = School(name="Other school")
    await other.insert()
    other_admin = await make_user(Role.admin, school_ids=[other.id])
    colleague = await make_user(Role.teacher, school_ids=[world.school.id])
    path = f"/teachers/{world.teacher.id}/timetable"
    for reader in (colleague, world.student, world.parent, other_admin):
        assert (await read(client, login_as, reader, path)).status_code == 403, reader.role
    assert (await client.get(path)).status_code == 401
    not_a_teacher = await read(
        client, login_as, world.admin, f"/teachers/{world.student.id}/timetable"
    )
    assert not_a_teacher.status_code == 404
    malformed = await read(client, login_as, world.admin, "/teachers/nope/timetable")
    assert malformed.status_code == 404


async def test_lessons_add_their_subjects_to_the_schools_list(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    assert world.teacher.id is not None
    school = await School.get(world.school.id)
    assert school is not None
    school.classes[0].teachers[0].subjects.append("Astronomy")
    await school.save()
    response = await put_week(client, login_as, world, [lesson(world, 1, subject="Astronomy")])
    assert response.status_code == 200, response.text
    listed = await client.get(f"/schools/{world.school.id}/subjects", headers=login_as(world.admin))
    assert listed.status_code == 200
    assert "astronomy" in [s["code"] for s in listed.json()["subjects"]]
