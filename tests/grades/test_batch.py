"""Grading a class in one request, and reading the class's register back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.auth.models import Role, User
from app.grades.models import Grade
from app.notifications.models import Notification
from app.schools.guardians import link_guardian
from app.schools.models import School
from tests.conftest import UserFactory, World
from tests.grades.helpers import add_class, assign_teacher, days_ago, posted

LoginAs = Callable[[User], dict[str, str]]


async def seat(world: World, make_user: UserFactory, count: int) -> list[User]:
    """`count` more students on 5A's roster, named so they sort in creation order."""
    school = await School.get(world.school.id)
    assert school is not None
    school_class = school.find_class(world.class_5a.id)
    assert school_class is not None
    students = []
    for number in range(count):
        student = await make_user(
            Role.student, school_ids=[world.school.id], full_name=f"Pupil {number:02d}"
        )
        assert student.id is not None
        school_class.student_ids.append(student.id)
        students.append(student)
    await school.save()
    return students


def batch(world: World, rows: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "class_id": str(world.class_5a.id),
        "subject": "math",
        "date": days_ago(world, 1),
        "grades": rows,
    }
    body.update(fields)
    return body


def row(student: User, value: int, **fields: Any) -> dict[str, Any]:
    return {"student_id": str(student.id), "value": value, **fields}


# --- POST /grades/batch ---------------------------------------------------------------------


async def test_teacher_grades_the_class_in_one_request_and_each_grade_notifies(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, make_user: UserFactory
):
    pupils = await seat(world, make_user, 3)
    assert world.parent.id and world.student.id
    await link_guardian(parent_id=world.parent.id, student_id=world.student.id)
    rows = [row(world.student, 5, comment=" Well done ")] + [
        row(p, 2 + n) for n, p in enumerate(pupils)
    ]
    response = await client.post(
        "/grades/batch",
        json=batch(world, rows, kind="test"),
        headers=login_as(world.teacher),
    )
    assert response.status_code == 201, response.text
    items = response.json()["items"]
    assert [i["student_id"] for i in items] == [r["student_id"] for r in rows]
    assert [i["value"] for i in items] == [5, 2, 3, 4]
    assert {i["kind"] for i in items} == {"test"} and {i["weight"] for i in items} == {2}
    assert {i["date"] for i in items} == {days_ago(world, 1)}
    assert items[0]["comment"] == "Well done"
    assert await Grade.find_all().count() == 4
    # As four single grades would: each student hears of theirs, the parent of her child's.
    for student in [world.student, *pupils]:
        (notice,) = await Notification.find({"recipient_id": student.id}).to_list()
        assert notice.topic == "grades"
    (for_parent,) = await Notification.find({"recipient_id": world.parent.id}).to_list()
    assert for_parent.data["value"] == 5 and for_parent.data["student_id"] == str(world.student.id)


async def test_admin_grades_a_batch(client: httpx.AsyncClient, world: World, login_as: LoginAs):
    response = await client.post(
        "/grades/batch",
        json=batch(world, [row(world.student, 4)], subject="history", weight=1.5),
        headers=login_as(world.admin),
    )
    assert response.status_code == 201, response.text
    (item,) = response.json()["items"]
    assert item["teacher_id"] == str(world.admin.id) and item["weight"] == 1.5


@pytest.mark.parametrize(
    ("bad_row", "field", "says"),
    [
        ({"value": 9}, "value", "outside this school's grade scale 1..5"),
        ({"value": 0}, "value", "outside this school's grade scale 1..5"),
        ({"stranger": True}, "student_id", "not on the roster of class 5A"),
        ({"twice": True}, "student_id", "already has a row in this batch"),
    ],
)
async def test_one_bad_row_refuses_the_whole_batch_and_names_it(
    client: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    make_user: UserFactory,
    bad_row: dict[str, Any],
    field: str,
    says: str,
):
    pupils = await seat(world, make_user, 2)
    stranger = await make_user(Role.student, school_ids=[world.school.id])
    third = row(pupils[1], bad_row.get("value", 4))
    if bad_row.get("stranger"):
        third = row(stranger, 4)
    if bad_row.get("twice"):
        third = row(world.student, 3)
    rows = [row(world.student, 5), row(pupils[0], 4), third]
    response = await client.post(
        "/grades/batch", json=batch(world, rows), headers=login_as(world.teacher)
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["row"] == 2 and error["student_id"] == third["student_id"]
    assert error["loc"] == ["body", "grades", 2, field]
    assert says in error["msg"] and error["msg"].startswith("row 2 (student ")
    assert await Grade.find_all().count() == 0
    assert await Notification.find_all().count() == 0


async def test_a_student_no_longer_active_refuses_the_batch(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, make_user: UserFactory
):
    (pupil,) = await seat(world, make_user, 1)
    await pupil.set({"deleted_at": pupil.created_at})
    response = await client.post(
        "/grades/batch",
        json=batch(world, [row(world.student, 5), row(pupil, 3)]),
        headers=login_as(world.teacher),
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["row"] == 1 and "no longer active" in error["msg"]


@pytest.mark.parametrize(
    "change",
    [
        {"grades": []},
        {"date": None},
        {"subject": "  "},
        {"kind": "homework"},
        {"weight": 0},
        {"grades": [{"student_id": "x", "value": 5}]},
        {"grades": [{"value": 5}]},
        {"grades": [{"student_id": "6500000000000000000000aa", "value": "5"}]},
        {"extra": 1},
    ],
)
async def test_malformed_batches_are_refused(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, change: dict[str, Any]
):
    body = batch(world, [row(world.student, 5)])
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    response = await client.post("/grades/batch", json=body, headers=login_as(world.teacher))
    assert response.status_code == 422, response.text


async def test_a_future_date_is_refused(client: httpx.AsyncClient, world: World, login_as: LoginAs):
    response = await client.post(
        "/grades/batch",
        json=batch(world, [row(world.student, 5)], date=days_ago(world, -2)),
        headers=login_as(world.teacher),
    )
    assert response.status_code == 422 and "in the future" in response.json()["detail"]


async def test_who_may_not_grade_a_batch(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, make_user: UserFactory
):
    body = batch(world, [row(world.student, 5)])
    assert (await client.post("/grades/batch", json=body)).status_code == 401
    for user in (world.student, world.parent):
        response = await client.post("/grades/batch", json=body, headers=login_as(user))
        assert response.status_code == 403
    other_teacher = await make_user(Role.teacher, school_ids=[world.school.id])
    response = await client.post("/grades/batch", json=body, headers=login_as(other_teacher))
    assert response.status_code == 403
    # The class's own teacher, in a subject she does not teach there.
    response = await client.post(
        "/grades/batch", json={**body, "subject": "history"}, headers=login_as(world.teacher)
    )
    assert response.status_code == 403
    other_admin = await make_user(Role.admin, school_ids=[])
    response = await client.post("/grades/batch", json=body, headers=login_as(other_admin))
    assert response.status_code == 403
    missing = {**body, "class_id": "6500000000000000000000aa"}
    response = await client.post("/grades/batch", json=missing, headers=login_as(world.teacher))
    assert response.status_code == 404
    assert await Grade.find_all().count() == 0


# --- GET .../gradebook ---------------------------------------------------------------------


def gradebook_url(world: World, query: str = "?subject=math") -> str:
    return f"/schools/{world.school.id}/classes/{world.class_5a.id}/gradebook{query}"


async def test_the_gradebook_is_the_class_by_dates_with_weighted_averages(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, make_user: UserFactory
):
    pupils = await seat(world, make_user, 2)
    teacher = login_as(world.teacher)
    for day, kind, values in [(5, "regular", [5, 2]), (3, "test", [3, 4]), (1, "regular", [4])]:
        students = [world.student, *pupils][: len(values)]
        response = await client.post(
            "/grades/batch",
            json=batch(
                world,
                [row(s, v) for s, v in zip(students, values, strict=True)],
                date=days_ago(world, day),
                kind=kind,
            ),
            headers=teacher,
        )
        assert response.status_code == 201, response.text
    # Another subject and another class stay out of it.
    await assign_teacher(world, world.teacher, ["math"], class_id=(await add_class(world, "5B")).id)
    await posted(client, login_as(world.admin), world, subject="history", value=1)

    response = await client.get(gradebook_url(world, "?subject=%20MATH%20"), headers=teacher)
    assert response.status_code == 200, response.text
    book = response.json()
    assert book["subject"] == "math"
    assert book["dates"] == [days_ago(world, 5), days_ago(world, 3), days_ago(world, 1)]
    by_id = {s["student_id"]: s for s in book["students"]}
    assert [s["student_id"] for s in book["students"]] == sorted(
        by_id, key=lambda sid: by_id[sid]["full_name"]
    )
    first = by_id[str(world.student.id)]
    assert [(g["date"], g["value"], g["kind"], g["weight"]) for g in first["grades"]] == [
        (days_ago(world, 5), 5, "regular", 1),
        (days_ago(world, 3), 3, "test", 2),
        (days_ago(world, 1), 4, "regular", 1),
    ]
    assert first["weighted_average"] == 3.75  # (5 + 3*2 + 4) / 4
    assert first["full_name"] == world.student.full_name
    assert by_id[str(pupils[0].id)]["weighted_average"] == pytest.approx((2 + 8) / 3, abs=0.005)
    assert by_id[str(pupils[1].id)] == {
        "student_id": str(pupils[1].id),
        "full_name": "Pupil 01",
        "grades": [],
        "weighted_average": None,
    }

    ranged = await client.get(
        gradebook_url(world, f"?subject=math&from={days_ago(world, 4)}&to={days_ago(world, 2)}"),
        headers=login_as(world.admin),
    )
    assert ranged.status_code == 200
    assert ranged.json()["dates"] == [days_ago(world, 3)]
    ranged_first = next(
        s for s in ranged.json()["students"] if s["student_id"] == str(world.student.id)
    )
    assert ranged_first["weighted_average"] == 3


async def test_who_may_not_read_the_gradebook(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, make_user: UserFactory
):
    assert (await client.get(gradebook_url(world))).status_code == 401
    for user in (world.student, world.parent):
        assert (await client.get(gradebook_url(world), headers=login_as(user))).status_code == 403
    other_teacher = await make_user(Role.teacher, school_ids=[world.school.id])
    response = await client.get(gradebook_url(world), headers=login_as(other_teacher))
    assert response.status_code == 403
    response = await client.get(
        gradebook_url(world, "?subject=history"), headers=login_as(world.teacher)
    )
    assert response.status_code == 403
    other_admin = await make_user(Role.admin, school_ids=[])
    response = await client.get(gradebook_url(world), headers=login_as(other_admin))
    assert response.status_code == 403
    unknown_class = f"/schools/{world.school.id}/classes/6500000000000000000000aa/gradebook"
    response = await client.get(unknown_class + "?subject=math", headers=login_as(world.teacher))
    assert response.status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?subject=",
        "?subject=%20",
        "?subject=math&from=2025-13-01",
        "?subject=math&from=2025-06-10&to=2025-06-01",
    ],
)
async def test_bad_gradebook_queries_are_refused(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, query: str
):
    response = await client.get(gradebook_url(world, query), headers=login_as(world.teacher))
    assert response.status_code == 422, response.text
