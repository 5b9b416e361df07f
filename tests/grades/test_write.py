"""Posting, correcting and deleting grades: who may, and what input is refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from beanie import PydanticObjectId

from app.auth.models import Role, User
from app.grades.models import Grade
from app.schools.models import School
from tests.conftest import UserFactory, World
from tests.grades.helpers import (
    add_class,
    assign_teacher,
    days_ago,
    post_grade,
    posted,
    school_today,
)

LoginAs = Callable[[User], dict[str, str]]


# --- POST /grades ---------------------------------------------------------------------------


async def test_teacher_posts_grade(client: httpx.AsyncClient, world: World, login_as: LoginAs):
    response = await post_grade(
        client, login_as(world.teacher), world, value=4, comment="  Good work  "
    )
    assert response.status_code == 201, response.text
    grade = response.json()
    assert grade["student_id"] == str(world.student.id)
    assert grade["class_id"] == str(world.class_5a.id)
    assert grade["school_id"] == str(world.school.id)
    assert grade["teacher_id"] == str(world.teacher.id)
    assert grade["subject"] == "math"
    assert grade["value"] == 4
    assert grade["kind"] == "regular"
    assert grade["weight"] == 1
    assert grade["comment"] == "Good work"
    # No date given: the school's today (Moscow), not the server's.
    assert grade["date"] == school_today(world).isoformat()


async def test_admin_posts_grade(client: httpx.AsyncClient, world: World, login_as: LoginAs):
    grade = await posted(
        client, login_as(world.admin), world, subject="history", date=days_ago(world, 3)
    )
    assert grade["teacher_id"] == str(world.admin.id)
    assert grade["subject"] == "history"
    assert grade["date"] == days_ago(world, 3)


@pytest.mark.parametrize(
    ("fields", "weight"),
    [
        ({"kind": "regular"}, 1),
        ({"kind": "test"}, 2),
        ({"kind": "term"}, 3),
        ({"kind": "test", "weight": 1.5}, 1.5),
        ({"weight": 4}, 4),
    ],
)
async def test_weight_defaults_by_kind(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, fields: dict[str, Any], weight
):
    grade = await posted(client, login_as(world.teacher), world, **fields)
    assert grade["weight"] == weight


async def test_subject_matches_case_insensitively_and_keeps_assigned_spelling(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
):
    grade = await posted(client, login_as(world.teacher), world, subject="  MATH ")
    assert grade["subject"] == "math"


async def test_teacher_of_another_subject_is_refused(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
):
    response = await post_grade(client, login_as(world.teacher), world, subject="physics")
    assert response.status_code == 403


async def test_teacher_of_another_class_is_refused(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, make_user: UserFactory
):
    class_5b = await add_class(world, "5B")
    other = await make_user(Role.teacher, school_ids=[world.school.id])
    await assign_teacher(world, other, ["math"], class_5b.id)
    # Maths in 5B does not reach the student of 5A ...
    response = await post_grade(client, login_as(other), world)
    assert response.status_code == 403
    # ... and the 5A maths teacher may not grade in 5B.
    response = await post_grade(client, login_as(world.teacher), world, class_id=str(class_5b.id))
    assert response.status_code == 403


@pytest.mark.parametrize("who", ["student", "parent"])
async def test_student_and_parent_cannot_post(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, who: str
):
    response = await post_grade(client, login_as(getattr(world, who)), world)
    assert response.status_code == 403


async def test_admin_of_another_school_cannot_post(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, make_user: UserFactory
):
    elsewhere = School(name="Elsewhere")
    await elsewhere.insert()
    assert elsewhere.id is not None
    other_admin = await make_user(Role.admin, school_ids=[elsewhere.id])
    response = await post_grade(client, login_as(other_admin), world)
    assert response.status_code == 403


async def test_anonymous_cannot_post(client: httpx.AsyncClient, world: World):
    response = await post_grade(client, {}, world)
    assert response.status_code == 401


@pytest.mark.parametrize("value", [0, 6, -1, 100])
async def test_value_off_scale(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, value: int
):
    response = await post_grade(client, login_as(world.teacher), world, value=value)
    assert response.status_code == 422
    assert "1..5" in response.json()["detail"]


async def test_value_checked_against_the_schools_own_scale(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
):
    school = await School.get(world.school.id)
    assert school is not None
    school.grade_scale.max = 10
    await school.save()
    assert (await post_grade(client, login_as(world.teacher), world, value=9)).status_code == 201
    response = await post_grade(client, login_as(world.teacher), world, value=11)
    assert response.status_code == 422
    assert "1..10" in response.json()["detail"]


async def test_student_not_on_roster(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, make_user: UserFactory
):
    outsider = await make_user(Role.student, school_ids=[world.school.id])
    response = await post_grade(client, login_as(world.teacher), world, student_id=str(outsider.id))
    assert response.status_code == 422
    assert "roster" in response.json()["detail"]


async def test_deleted_student_on_roster_cannot_be_graded(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
):
    world.student.deleted_at = dt.datetime.now(dt.UTC)
    await world.student.save()
    response = await post_grade(client, login_as(world.teacher), world)
    assert response.status_code == 422


async def test_unknown_class(client: httpx.AsyncClient, world: World, login_as: LoginAs):
    response = await post_grade(
        client, login_as(world.teacher), world, class_id=str(PydanticObjectId())
    )
    assert response.status_code == 404


async def test_class_of_deleted_school(client: httpx.AsyncClient, world: World, login_as: LoginAs):
    world.school.deleted_at = dt.datetime.now(dt.UTC)
    await world.school.save()
    response = await post_grade(client, login_as(world.admin), world)
    assert response.status_code == 404


@pytest.mark.parametrize(
    "fields",
    [
        {"value": None},
        {"value": "5"},
        {"value": 4.5},
        {"value": True},
        {"value": 10**30},
        {"class_id": "not-an-id"},
        {"class_id": None},
        {"class_id": 12345},
        {"student_id": "zz" * 12},
        {"student_id": None},
        {"subject": "   "},
        {"subject": "x" * 101},
        {"kind": "quiz"},
        {"weight": 0},
        {"weight": -1},
        {"weight": 11},
        {"comment": "x" * 1001},
        {"date": "2024-13-01"},
        {"date": "yesterday"},
        {"unexpected": 1},
    ],
)
async def test_malformed_body(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, fields: dict[str, Any]
):
    response = await post_grade(client, login_as(world.teacher), world, **fields)
    assert response.status_code == 422, response.text


async def test_missing_fields(client: httpx.AsyncClient, world: World, login_as: LoginAs):
    response = await client.post(
        "/grades", json={"subject": "math"}, headers=login_as(world.teacher)
    )
    assert response.status_code == 422


@pytest.mark.parametrize("date", ["future", "0001-01-01", "1990-05-05"])
async def test_absurd_dates(client: httpx.AsyncClient, world: World, login_as: LoginAs, date: str):
    if date == "future":
        date = (school_today(world) + dt.timedelta(days=2)).isoformat()
    response = await post_grade(client, login_as(world.teacher), world, date=date)
    assert response.status_code == 422
    assert date in response.json()["detail"]


# --- PATCH and DELETE /grades/{id} ----------------------------------------------------------


async def test_grading_teacher_corrects_grade(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
):
    grade = await posted(client, login_as(world.teacher), world, value=3, comment="late")
    # Age the grade, so a fresh updated_at is told from the posting time.
    long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    await Grade.find_one(Grade.id == PydanticObjectId(grade["id"])).update(
        {"$set": {"updated_at": long_ago}}
    )
    response = await client.patch(
        f"/grades/{grade['id']}",
        json={"value": 4, "comment": None, "date": days_ago(world, 1)},
        headers=login_as(world.teacher),
    )
    assert response.status_code == 200, response.text
    corrected = response.json()
    assert corrected["value"] == 4
    assert corrected["comment"] is None
    assert corrected["date"] == days_ago(world, 1)
    assert corrected["created_at"] == grade["created_at"]
    updated_at = dt.datetime.fromisoformat(corrected["updated_at"])
    assert updated_at > dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    # The change is stored, not only echoed.
    listed = await client.get(
        f"/students/{world.student.id}/grades", headers=login_as(world.student)
    )
    assert [(g["value"], g["comment"]) for g in listed.json()["items"]] == [(4, None)]


async def test_admin_corrects_teachers_grade(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
):
    grade = await posted(client, login_as(world.teacher), world, value=3)
    response = await client.patch(
        f"/grades/{grade['id']}", json={"comment": "re-marked"}, headers=login_as(world.admin)
    )
    assert response.status_code == 200
    assert response.json()["comment"] == "re-marked"
    assert response.json()["value"] == 3


@pytest.mark.parametrize(
    ("posted_fields", "patch", "weight"),
    [
        # A weight left at its default follows the kind ...
        ({}, {"kind": "test"}, 2),
        ({"kind": "term"}, {"kind": "regular"}, 1),
        # ... one chosen by the teacher is kept ...
        ({"weight": 1.5}, {"kind": "term"}, 1.5),
        # ... and a weight given with the kind wins.
        ({}, {"kind": "term", "weight": 5}, 5),
        ({"kind": "test"}, {"weight": 0.5}, 0.5),
    ],
)
async def test_kind_change_and_weight(
    client: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    posted_fields: dict[str, Any],
    patch: dict[str, Any],
    weight: float,
):
    grade = await posted(client, login_as(world.teacher), world, **posted_fields)
    response = await client.patch(
        f"/grades/{grade['id']}", json=patch, headers=login_as(world.teacher)
    )
    assert response.status_code == 200, response.text
    assert response.json()["weight"] == weight


async def test_other_teacher_student_and_parent_cannot_correct_or_delete(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, make_user: UserFactory
):
    grade = await posted(client, login_as(world.teacher), world)
    # Even a colleague teaching the same class and subject did not give this grade.
    colleague = await make_user(Role.teacher, school_ids=[world.school.id])
    await assign_teacher(world, colleague, ["math"])
    for user in (colleague, world.student, world.parent):
        patch = await client.patch(
            f"/grades/{grade['id']}", json={"value": 1}, headers=login_as(user)
        )
        assert patch.status_code == 403
        delete = await client.delete(f"/grades/{grade['id']}", headers=login_as(user))
        assert delete.status_code == 403
    listed = await client.get(
        f"/students/{world.student.id}/grades", headers=login_as(world.student)
    )
    assert [g["value"] for g in listed.json()["items"]] == [5]


async def test_admin_of_another_school_cannot_correct(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, make_user: UserFactory
):
    grade = await posted(client, login_as(world.teacher), world)
    elsewhere = School(name="Elsewhere")
    await elsewhere.insert()
    assert elsewhere.id is not None
    other_admin = await make_user(Role.admin, school_ids=[elsewhere.id])
    response = await client.patch(
        f"/grades/{grade['id']}", json={"value": 1}, headers=login_as(other_admin)
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"value": 6},
        {"value": None},
        {"kind": None},
        {"weight": None},
        {"weight": 0},
        {"kind": "quiz"},
        {"subject": "physics"},
        {"student_id": "5f1e0c6f1c9d440000a1b2c3"},
        {"date": "2999-01-01"},
        {"comment": "x" * 1001},
    ],
)
async def test_patch_bad_input(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, body: dict[str, Any]
):
    grade = await posted(client, login_as(world.teacher), world)
    response = await client.patch(
        f"/grades/{grade['id']}", json=body, headers=login_as(world.teacher)
    )
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("grade_id", ["nope", str(PydanticObjectId())])
async def test_unknown_or_malformed_grade(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, grade_id: str
):
    headers = login_as(world.admin)
    patch = await client.patch(f"/grades/{grade_id}", json={"value": 3}, headers=headers)
    assert patch.status_code == 404
    delete = await client.delete(f"/grades/{grade_id}", headers=headers)
    assert delete.status_code == 404


@pytest.mark.parametrize("who", ["teacher", "admin"])
async def test_delete_grade(client: httpx.AsyncClient, world: World, login_as: LoginAs, who: str):
    grade = await posted(client, login_as(world.teacher), world)
    headers = login_as(getattr(world, who))
    response = await client.delete(f"/grades/{grade['id']}", headers=headers)
    assert response.status_code == 204
    listed = await client.get(f"/students/{world.student.id}/grades", headers=headers)
    assert listed.json()["items"] == []
    again = await client.delete(f"/grades/{grade['id']}", headers=headers)
    assert again.status_code == 404


# --- which answer wins when several apply ----------------------------------------------------


async def test_a_malformed_body_is_refused_before_anything_is_looked_up(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
):
    grade = await posted(client, login_as(world.teacher), world)
    # A parent may neither post nor correct, and the grade below does not exist: the body
    # is still checked first, as when the route validated it itself.
    parent = login_as(world.parent)
    assert (await client.post("/grades", json={"value": 5}, headers=parent)).status_code == 422
    bad = {"value": "five"}
    for grade_id in (grade["id"], str(PydanticObjectId()), "nope"):
        response = await client.patch(f"/grades/{grade_id}", json=bad, headers=parent)
        assert response.status_code == 422, grade_id
    # Without a token, 401 comes before all of it.
    assert (await client.patch(f"/grades/{grade['id']}", json=bad)).status_code == 401
    assert (await client.post("/grades", json={"value": 5})).status_code == 401


async def test_role_then_class_then_subject_on_post(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
):
    unknown_class = {"class_id": str(PydanticObjectId())}
    response = await post_grade(client, login_as(world.parent), world, **unknown_class)
    assert response.status_code == 403
    assert response.json()["detail"] == "Only teachers and admins may post grades"
    response = await post_grade(
        client, login_as(world.teacher), world, subject="physics", **unknown_class
    )
    assert response.status_code == 404
    assert response.json()["detail"] == "Class not found"
    # Not their subject and off the scale: the subject is what is wrong first.
    response = await post_grade(client, login_as(world.teacher), world, subject="art", value=99)
    assert response.status_code == 403
    assert response.json()["detail"] == "You do not teach this subject in this class"


async def test_a_grade_of_a_deleted_school_is_not_found_even_for_its_teacher(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
):
    grade = await posted(client, login_as(world.teacher), world)
    school = await School.get(world.school.id)
    assert school is not None
    school.deleted_at = dt.datetime.now(dt.UTC)
    await school.save()
    for user in (world.teacher, world.parent):
        response = await client.delete(f"/grades/{grade['id']}", headers=login_as(user))
        assert response.status_code == 404
        assert response.json()["detail"] == "Grade not found"
