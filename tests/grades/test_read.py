"""Reading a student's grades: who may, filters, cursor paging and the summary."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from beanie import PydanticObjectId

from app.auth.models import Role, User
from app.core.security import utcnow
from app.grades.models import Grade
from app.grades.service import backfill_subject_keys
from app.schools.models import GuardianLink, School
from tests.conftest import UserFactory, World
from tests.grades.helpers import add_class, assign_teacher, days_ago, posted

LoginAs = Callable[[User], dict[str, str]]


def grades_url(world: World, suffix: str = "") -> str:
    return f"/students/{world.student.id}/grades{suffix}"


@pytest.fixture
async def physics_teacher(world: World, make_user: UserFactory) -> User:
    teacher = await make_user(Role.teacher, school_ids=[world.school.id])
    await assign_teacher(world, teacher, ["Physics"])
    return teacher


# --- who may read ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["student", "parent", "teacher", "admin"])
async def test_students_circle_lists_grades(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, who: str
):
    grade = await posted(client, login_as(world.teacher), world)
    response = await client.get(grades_url(world), headers=login_as(getattr(world, who)))
    assert response.status_code == 200
    # The list names who gave it and where, beside the ids.
    named = {**grade, "teacher_name": world.teacher.full_name, "class_name": "5A"}
    assert response.json() == {"items": [named], "next_cursor": None}
    summary = await client.get(grades_url(world, "/summary"), headers=login_as(getattr(world, who)))
    assert summary.status_code == 200
    assert summary.json()["subjects"][0]["count"] == 1


async def test_teacher_sees_grades_in_every_subject(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, physics_teacher: User
):
    await posted(client, login_as(world.teacher), world, subject="math")
    await posted(client, login_as(physics_teacher), world, subject="physics")
    response = await client.get(grades_url(world), headers=login_as(physics_teacher))
    assert response.status_code == 200
    assert sorted(g["subject"] for g in response.json()["items"]) == ["Physics", "math"]


async def test_outsiders_are_refused(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, make_user: UserFactory
):
    await posted(client, login_as(world.teacher), world)
    other_student = await make_user(Role.student, school_ids=[world.school.id])
    other_parent = await make_user(Role.parent)
    assert other_parent.id and other_student.id
    # A parent of another child in the same school is still an outsider to this one.
    await GuardianLink(parent_id=other_parent.id, student_id=other_student.id).insert()
    class_5b = await add_class(world, "5B", student_ids=[other_student.id])
    teacher_5b = await make_user(Role.teacher, school_ids=[world.school.id])
    await assign_teacher(world, teacher_5b, ["math"], class_5b.id)
    elsewhere = School(name="Elsewhere")
    await elsewhere.insert()
    assert elsewhere.id is not None
    other_admin = await make_user(Role.admin, school_ids=[elsewhere.id])
    for user in (other_student, other_parent, teacher_5b, other_admin):
        for url in (grades_url(world), grades_url(world, "/summary")):
            response = await client.get(url, headers=login_as(user))
            assert response.status_code == 403, (user.role, url)


async def test_anonymous_is_refused(client: httpx.AsyncClient, world: World):
    assert (await client.get(grades_url(world))).status_code == 401


@pytest.mark.parametrize("student_id", ["nope", str(PydanticObjectId())])
async def test_unknown_student(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, student_id: str
):
    for suffix in ("", "/summary"):
        response = await client.get(
            f"/students/{student_id}/grades{suffix}", headers=login_as(world.admin)
        )
        assert response.status_code == 404


async def test_a_teacher_is_not_a_student(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
):
    response = await client.get(
        f"/students/{world.teacher.id}/grades", headers=login_as(world.admin)
    )
    assert response.status_code == 404


# --- filters --------------------------------------------------------------------------------


@pytest.fixture
async def mixed_grades(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, physics_teacher: User
) -> dict[str, dict[str, Any]]:
    maths = login_as(world.teacher)
    return {
        "old_math": await posted(client, maths, world, value=2, date=days_ago(world, 20)),
        "math_test": await posted(
            client, maths, world, value=4, kind="test", date=days_ago(world, 10)
        ),
        "physics": await posted(
            client, login_as(physics_teacher), world, subject="physics", date=days_ago(world, 10)
        ),
        "new_math": await posted(client, maths, world, value=5, date=days_ago(world, 1)),
    }


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [g["id"] for g in response.json()["items"]]


async def test_filters(
    client: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    mixed_grades: dict[str, dict[str, Any]],
):
    g = {name: grade["id"] for name, grade in mixed_grades.items()}
    headers = login_as(world.parent)

    async def listed(**params: str) -> list[str]:
        return ids(await client.get(grades_url(world), params=params, headers=headers))

    assert await listed() == [g["new_math"], g["physics"], g["math_test"], g["old_math"]]
    assert await listed(subject="MATH") == [g["new_math"], g["math_test"], g["old_math"]]
    assert await listed(subject="physics") == [g["physics"]]
    assert await listed(subject="ma") == []
    assert await listed(subject=".*") == []
    assert await listed(kind="test") == [g["math_test"]]
    # Both ends of a date range are included.
    assert await listed(date_from=days_ago(world, 10)) == [
        g["new_math"],
        g["physics"],
        g["math_test"],
    ]
    assert await listed(date_to=days_ago(world, 10)) == [
        g["physics"],
        g["math_test"],
        g["old_math"],
    ]
    assert await listed(
        date_from=days_ago(world, 10), date_to=days_ago(world, 10), subject="math"
    ) == [g["math_test"]]


@pytest.mark.parametrize(
    "params",
    [
        {"date_from": "2024-02-30"},
        {"date_to": "soon"},
        {"kind": "quiz"},
        {"date_from": "2024-05-02", "date_to": "2024-05-01"},
        {"subject": "x" * 101},
        {"limit": 0},
        {"limit": 201},
        {"cursor": "garbage"},
        {"cursor": "WyJub3QgYSBkYXRlIiwgIngiXQ"},
    ],
)
async def test_bad_query(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, params: dict[str, Any]
):
    response = await client.get(grades_url(world), params=params, headers=login_as(world.student))
    assert response.status_code == 422, response.text
    if "cursor" not in params and "limit" not in params:
        summary = await client.get(
            grades_url(world, "/summary"), params=params, headers=login_as(world.student)
        )
        assert summary.status_code == 422, summary.text


# --- paging ---------------------------------------------------------------------------------


async def test_cursor_paging_has_no_duplicates_and_no_gaps(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
):
    headers = login_as(world.teacher)
    # Seven grades over three days, several on the same day, so pages split inside a day.
    for days in (5, 5, 5, 3, 3, 3, 1):
        await posted(client, headers, world, date=days_ago(world, days))
    stored = await Grade.find({"student_id": world.student.id}).to_list()
    expected = [str(g.id) for g in sorted(stored, key=lambda g: (g.date, g.id), reverse=True)]

    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(grades_url(world), params=params, headers=headers)
        assert response.status_code == 200
        page = response.json()
        seen += [g["id"] for g in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == expected


async def test_exact_last_page_has_no_cursor(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
):
    headers = login_as(world.teacher)
    for _ in range(2):
        await posted(client, headers, world)
    response = await client.get(grades_url(world), params={"limit": 2}, headers=headers)
    assert len(response.json()["items"]) == 2
    assert response.json()["next_cursor"] is None


# --- summary --------------------------------------------------------------------------------


async def test_summary_numbers(
    client: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    physics_teacher: User,
    monkeypatch: pytest.MonkeyPatch,
):
    maths, physics = login_as(world.teacher), login_as(physics_teacher)
    await posted(client, maths, world, value=5, date=days_ago(world, 9))  # weight 1
    await posted(client, maths, world, value=3, kind="test", date=days_ago(world, 6))  # 2
    await posted(client, maths, world, value=4, kind="term", date=days_ago(world, 2))  # 3
    # Same day as the term grade but posted later, so it is the last one.
    await posted(client, maths, world, value=2, date=days_ago(world, 2))  # 1
    # Posted last, yet its date is older: "last" follows the date, not posting order.
    await posted(client, maths, world, value=1, weight=0.5, date=days_ago(world, 30))
    await posted(client, physics, world, subject="physics", value=2, date=days_ago(world, 8))
    await posted(client, physics, world, subject="physics", value=5, date=days_ago(world, 4))

    # The summary is one aggregation; loading grades one by one would trip this.
    def no_find(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("summary must not load grades")

    monkeypatch.setattr(Grade, "find", no_find)
    response = await client.get(grades_url(world, "/summary"), headers=login_as(world.parent))
    assert response.status_code == 200
    assert response.json() == {
        "student_id": str(world.student.id),
        "subjects": [
            {
                "subject": "math",
                "count": 5,
                "average": 3.0,  # (5 + 3 + 4 + 2 + 1) / 5
                # (5*1 + 3*2 + 4*3 + 2*1 + 1*0.5) / (1 + 2 + 3 + 1 + 0.5) = 25.5 / 7.5
                "weighted_average": 3.4,
                "last_value": 2,
                "last_date": days_ago(world, 2),
            },
            {
                "subject": "Physics",
                "count": 2,
                "average": 3.5,
                "weighted_average": 3.5,
                "last_value": 5,
                "last_date": days_ago(world, 4),
            },
        ],
        # (25.5 + 7) / (7.5 + 2) = 32.5 / 9.5 = 3.421...
        "overall_average": 3.42,
    }


async def test_summary_filters_and_rounding(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, physics_teacher: User
):
    maths = login_as(world.teacher)
    await posted(client, maths, world, value=3, weight=7, date=days_ago(world, 3))
    await posted(client, maths, world, value=4, weight=1, date=days_ago(world, 3))
    await posted(client, maths, world, value=5, date=days_ago(world, 1))
    await posted(client, maths, world, value=4, date=days_ago(world, 2))
    await posted(client, login_as(physics_teacher), world, subject="physics", value=5)

    response = await client.get(
        grades_url(world, "/summary"),
        params={"subject": "Math", "date_to": days_ago(world, 3)},
        headers=login_as(world.student),
    )
    body = response.json()
    [math] = body["subjects"]
    assert math["count"] == 2
    assert math["average"] == 3.5
    # 25 / 8 = 3.125 rounds half up, as on a school report.
    assert math["weighted_average"] == 3.13
    assert body["overall_average"] == 3.13

    response = await client.get(
        grades_url(world, "/summary"),
        params={"date_from": days_ago(world, 2), "date_to": days_ago(world, 1)},
        headers=login_as(world.student),
    )
    [math] = response.json()["subjects"]
    assert (math["count"], math["average"], math["last_value"]) == (2, 4.5, 5)
    assert math["last_date"] == days_ago(world, 1)


async def test_empty_summary(client: httpx.AsyncClient, world: World, login_as: LoginAs):
    response = await client.get(grades_url(world, "/summary"), headers=login_as(world.student))
    assert response.status_code == 200
    assert response.json() == {
        "student_id": str(world.student.id),
        "subjects": [],
        "overall_average": None,
    }


async def test_subject_filter_ignores_case_and_spacing_and_finds_grades_from_before_keys(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    posted_now = await posted(client, login_as(world.teacher), world, subject="math")
    assert world.school.id and world.class_5a.id and world.student.id and world.teacher.id
    # A grade stored before subject_key existed: no key in the document.
    legacy = Grade(
        school_id=world.school.id,
        class_id=world.class_5a.id,
        student_id=world.student.id,
        teacher_id=world.teacher.id,
        subject="Math",
        value=3,
        date=datetime(2025, 1, 10, tzinfo=UTC),
    ).model_dump(by_alias=True, exclude={"id", "subject_key"})
    legacy_id = str((await Grade.get_motor_collection().insert_one(legacy)).inserted_id)

    assert await backfill_subject_keys() == 1
    assert await backfill_subject_keys() == 0

    headers = login_as(world.parent)
    for spelling in ("math", "MATH", "  Math  ", "mAtH"):
        response = await client.get(
            f"/students/{world.student.id}/grades", headers=headers, params={"subject": spelling}
        )
        assert response.status_code == 200
        assert sorted(g["id"] for g in response.json()["items"]) == sorted(
            [posted_now["id"], legacy_id]
        )
    summary = await client.get(
        f"/students/{world.student.id}/grades/summary",
        headers=headers,
        params={"subject": "MATH"},
    )
    [math] = summary.json()["subjects"]
    assert math["count"] == 2


async def test_a_deleted_student_is_not_found_whoever_asks(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
):
    # The student and the caller's relation to them come in one query: a parent's link
    # and a teacher's class outlive the account, and still the answer is 404, not 200.
    await User.find_one(User.id == world.student.id).update({"$set": {"deleted_at": utcnow()}})
    for user in (world.parent, world.teacher, world.admin):
        for url in (grades_url(world), grades_url(world, "/summary")):
            response = await client.get(url, headers=login_as(user))
            assert response.status_code == 404, (user.role, url)
            assert response.json()["detail"] == "Student not found"


async def test_a_teacher_of_a_deleted_school_or_taken_off_the_class_is_refused(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
):
    assert (await client.get(grades_url(world), headers=login_as(world.teacher))).status_code == 200
    school = await School.get(world.school.id)
    assert school is not None
    school.classes[0].teachers = []
    await school.save()
    response = await client.get(grades_url(world), headers=login_as(world.teacher))
    assert response.status_code == 403
    assert response.json()["detail"] == "You may not see this student"
    await assign_teacher(world, world.teacher, ["math"])
    school = await School.get(world.school.id)
    assert school is not None
    school.deleted_at = utcnow()
    await school.save()
    response = await client.get(grades_url(world), headers=login_as(world.teacher))
    assert response.status_code == 403


async def test_an_unlinked_parent_is_refused(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
):
    assert (await client.get(grades_url(world), headers=login_as(world.parent))).status_code == 200
    await GuardianLink.find(GuardianLink.parent_id == world.parent.id).delete()
    response = await client.get(grades_url(world, "/summary"), headers=login_as(world.parent))
    assert response.status_code == 403
