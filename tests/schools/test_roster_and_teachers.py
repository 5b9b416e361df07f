"""Class rosters (./students) and teacher assignments (./teachers): PUT, DELETE, GET."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from bson import ObjectId

from app.auth.models import Role, User
from app.core.security import utcnow
from app.schools import service
from app.schools.models import School, SchoolClass
from tests.conftest import UserFactory, World
from tests.schools.conftest import REFUSED_ROLES, DriverLikeCollection

Headers = Callable[[str], dict[str, str]]
LoginAs = Callable[[User], dict[str, str]]


def student_url(world: World, student_id: Any, class_id: Any = None) -> str:
    return (
        f"/schools/{world.school.id}/classes/{class_id or world.class_5a.id}/students/{student_id}"
    )


def teacher_url(world: World, teacher_id: Any, class_id: Any = None) -> str:
    return (
        f"/schools/{world.school.id}/classes/{class_id or world.class_5a.id}/teachers/{teacher_id}"
    )


async def stored_class(world: World, class_id: Any = None) -> SchoolClass:
    school = await School.get(world.school.id)
    assert school is not None
    found = school.find_class(ObjectId(str(class_id or world.class_5a.id)))  # type: ignore[arg-type]
    assert found is not None
    return found


# Roster


async def test_adding_a_student_is_idempotent_and_joins_them_to_the_school(
    client: httpx.AsyncClient, world: World, as_role: Headers, make_user: UserFactory
) -> None:
    newcomer = await make_user(Role.student)
    for _ in range(2):
        response = await client.put(student_url(world, newcomer.id), headers=as_role("admin"))
        assert response.status_code == 204

    roster = (await stored_class(world)).student_ids
    assert roster == [world.student.id, newcomer.id]
    refreshed = await User.get(newcomer.id)
    assert refreshed is not None and refreshed.school_ids == [world.school.id]


async def test_a_student_sits_in_one_class_per_school(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    other = await client.post(
        f"/schools/{world.school.id}/classes", json={"name": "5B"}, headers=as_role("admin")
    )
    class_b = other.json()["id"]
    response = await client.put(
        student_url(world, world.student.id, class_b), headers=as_role("admin")
    )
    assert response.status_code == 409
    assert "'5A'" in response.json()["detail"]
    assert (await stored_class(world, class_b)).student_ids == []

    # Moving a student is: off the old roster, onto the new one.
    removed = await client.delete(student_url(world, world.student.id), headers=as_role("admin"))
    assert removed.status_code == 204
    moved = await client.put(
        student_url(world, world.student.id, class_b), headers=as_role("admin")
    )
    assert moved.status_code == 204
    assert (await stored_class(world, class_b)).student_ids == [world.student.id]


async def test_two_admins_placing_one_student_in_two_classes_at_once(
    client: httpx.AsyncClient,
    world: World,
    as_role: Headers,
    make_user: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    newcomer = await make_user(Role.student)
    other = await client.post(
        f"/schools/{world.school.id}/classes", json={"name": "5B"}, headers=as_role("admin")
    )
    class_b = other.json()["id"]
    collection = DriverLikeCollection(
        School.get_motor_collection(), methods={"update_one", "find_one_and_update"}
    )
    monkeypatch.setattr(School, "get_motor_collection", classmethod(lambda cls: collection))

    responses = await asyncio.gather(
        client.put(student_url(world, newcomer.id), headers=as_role("admin")),
        client.put(student_url(world, newcomer.id, class_b), headers=as_role("admin")),
    )
    assert len(collection.arrived) == 2
    assert sorted(r.status_code for r in responses) == [204, 409]
    school = await School.get(world.school.id)
    assert school is not None
    placed = [c.name for c in school.classes if newcomer.id in c.student_ids]
    assert len(placed) == 1


async def test_the_same_student_may_sit_in_a_class_of_another_school(
    client: httpx.AsyncClient, world: World, make_user: UserFactory, login_as: LoginAs
) -> None:
    admin = world.admin
    created = await client.post("/schools", json={"name": "Music school"}, headers=login_as(admin))
    school_id = created.json()["id"]
    admin = await User.get(admin.id)  # type: ignore[assignment]
    assert admin is not None
    class_id = (
        await client.post(
            f"/schools/{school_id}/classes", json={"name": "Piano"}, headers=login_as(admin)
        )
    ).json()["id"]
    response = await client.put(
        f"/schools/{school_id}/classes/{class_id}/students/{world.student.id}",
        headers=login_as(admin),
    )
    assert response.status_code == 204
    student = await User.get(world.student.id)
    assert student is not None
    assert {str(s) for s in student.school_ids} == {str(world.school.id), school_id}


async def test_roster_refuses_users_who_are_not_students_as_if_unknown(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    # The same answer as for an unknown id: a different one would reveal the user's role.
    response = await client.put(student_url(world, world.teacher.id), headers=as_role("admin"))
    assert response.status_code == 404
    assert response.json() == {"detail": "Student not found"}


async def test_roster_hides_unknown_deleted_and_foreign_students(
    client: httpx.AsyncClient,
    world: World,
    as_role: Headers,
    make_user: UserFactory,
    foreign_admin: User,
) -> None:
    gone = await make_user(Role.student, deleted_at=utcnow())
    elsewhere = await make_user(Role.student, school_ids=foreign_admin.school_ids)
    for student_id in (ObjectId(), "not-an-id", gone.id, elsewhere.id):
        response = await client.put(student_url(world, student_id), headers=as_role("admin"))
        assert response.status_code == 404, student_id
    assert (await stored_class(world)).student_ids == [world.student.id]
    refreshed = await User.get(elsewhere.id)
    assert refreshed is not None and refreshed.school_ids == foreign_admin.school_ids


@pytest.mark.parametrize("class_id", ["bad", str(ObjectId())])
async def test_roster_of_an_unknown_class_is_404(
    client: httpx.AsyncClient, world: World, as_role: Headers, class_id: str
) -> None:
    headers = as_role("admin")
    url = student_url(world, world.student.id, class_id)
    assert (await client.put(url, headers=headers)).status_code == 404
    assert (await client.delete(url, headers=headers)).status_code == 404
    roster = f"/schools/{world.school.id}/classes/{class_id}/students"
    assert (await client.get(roster, headers=headers)).status_code == 404


async def test_removing_a_student_is_idempotent(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    for _ in range(2):
        response = await client.delete(
            student_url(world, world.student.id), headers=as_role("admin")
        )
        assert response.status_code == 204
    assert (await stored_class(world)).student_ids == []
    malformed = await client.delete(student_url(world, "x"), headers=as_role("admin"))
    assert malformed.status_code == 404


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("who", REFUSED_ROLES)
async def test_only_admins_change_the_roster(
    client: httpx.AsyncClient,
    world: World,
    as_role: Headers,
    make_user: UserFactory,
    method: str,
    who: str,
) -> None:
    newcomer = await make_user(Role.student)
    target = newcomer.id if method == "PUT" else world.student.id
    response = await client.request(method, student_url(world, target), headers=as_role(who))
    assert response.status_code == 403
    assert (await stored_class(world)).student_ids == [world.student.id]


@pytest.mark.parametrize("who", ["admin", "teacher"])
async def test_admin_and_class_teachers_read_the_roster(
    client: httpx.AsyncClient, world: World, as_role: Headers, make_user: UserFactory, who: str
) -> None:
    second = await make_user(Role.student, full_name="Zoe Second")
    await client.put(student_url(world, second.id), headers=as_role("admin"))

    response = await client.get(
        f"/schools/{world.school.id}/classes/{world.class_5a.id}/students", headers=as_role(who)
    )
    assert response.status_code == 200
    assert response.json()["items"] == [
        {"id": str(second.id), "full_name": "Zoe Second", "email": second.email},
        {
            "id": str(world.student.id),
            "full_name": world.student.full_name,
            "email": world.student.email,
        },
    ]
    assert response.json()["next_cursor"] is None


async def test_roster_pages(
    client: httpx.AsyncClient, world: World, as_role: Headers, make_user: UserFactory
) -> None:
    second = await make_user(Role.student)
    await client.put(student_url(world, second.id), headers=as_role("admin"))
    url = f"/schools/{world.school.id}/classes/{world.class_5a.id}/students"
    first = await client.get(url, params={"limit": 1}, headers=as_role("admin"))
    assert [s["id"] for s in first.json()["items"]] == [str(second.id)]
    rest = await client.get(
        url, params={"limit": 1, "cursor": first.json()["next_cursor"]}, headers=as_role("admin")
    )
    assert [s["id"] for s in rest.json()["items"]] == [str(world.student.id)]
    assert rest.json()["next_cursor"] is None


async def test_roster_is_hidden_from_others(
    client: httpx.AsyncClient,
    world: World,
    as_role: Headers,
    make_user: UserFactory,
    login_as: LoginAs,
) -> None:
    url = f"/schools/{world.school.id}/classes/{world.class_5a.id}/students"
    for who in REFUSED_ROLES[1:]:
        assert (await client.get(url, headers=as_role(who))).status_code == 403, who
    assert world.school.id is not None
    colleague = await make_user(Role.teacher, school_ids=[world.school.id])
    assert (await client.get(url, headers=login_as(colleague))).status_code == 403


# Teachers


async def test_assigning_a_teacher_joins_them_to_the_school(
    client: httpx.AsyncClient,
    world: World,
    as_role: Headers,
    make_user: UserFactory,
    login_as: LoginAs,
) -> None:
    newcomer = await make_user(Role.teacher)
    response = await client.put(
        teacher_url(world, newcomer.id),
        json={"subjects": [" physics ", "chemistry", "physics"]},
        headers=as_role("admin"),
    )
    assert response.status_code == 204

    school_class = await stored_class(world)
    assert newcomer.id is not None
    assert school_class.subjects_of(newcomer.id) == ["physics", "chemistry"]
    assert school_class.subjects_of(world.teacher.id) == ["math"]  # type: ignore[arg-type]
    refreshed = await User.get(newcomer.id)
    assert refreshed is not None and refreshed.school_ids == [world.school.id]

    # The new teacher now reads the roster.
    read = await client.get(
        f"/schools/{world.school.id}/classes/{world.class_5a.id}/students",
        headers=login_as(newcomer),
    )
    assert read.status_code == 200


async def test_reassigning_replaces_subjects_and_keeps_one_entry(
    client: httpx.AsyncClient, world: World, as_role: Headers, make_user: UserFactory
) -> None:
    # The replaced entry is not the first, so the index used for it matters.
    second = await make_user(Role.teacher)
    headers = as_role("admin")
    await client.put(teacher_url(world, second.id), json={"subjects": ["art"]}, headers=headers)
    for subjects in (["music"], ["music"], ["music", "history"]):
        response = await client.put(
            teacher_url(world, second.id), json={"subjects": subjects}, headers=headers
        )
        assert response.status_code == 204

    teachers = (await stored_class(world)).teachers
    assert [(str(a.teacher_id), a.subjects) for a in teachers] == [
        (str(world.teacher.id), ["math"]),
        (str(second.id), ["music", "history"]),
    ]
    shown = await client.get(
        f"/schools/{world.school.id}/classes/{world.class_5a.id}", headers=headers
    )
    assert shown.json()["teachers"][1] == {
        "teacher_id": str(second.id),
        "subjects": ["music", "history"],
    }


async def test_replacement_survives_a_concurrent_change_to_the_class(
    client: httpx.AsyncClient, world: World, as_role: Headers, make_user: UserFactory
) -> None:
    second = await make_user(Role.teacher)
    await client.put(
        teacher_url(world, second.id), json={"subjects": ["art"]}, headers=as_role("admin")
    )
    stale = await School.get(world.school.id)
    assert stale is not None
    # Another admin removes the first teacher, so `second` moves from index 1 to 0.
    await client.delete(teacher_url(world, world.teacher.id), headers=as_role("admin"))

    await service.assign_teacher(
        admin=world.admin,
        school=stale,
        class_id=str(world.class_5a.id),
        teacher_id=str(second.id),
        subjects=["pe"],
    )
    teachers = (await stored_class(world)).teachers
    assert [(str(a.teacher_id), a.subjects) for a in teachers] == [(str(second.id), ["pe"])]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"subjects": []},
        {"subjects": [""]},
        {"subjects": ["   "]},
        {"subjects": "math"},
        {"subjects": [1]},
        {"subjects": ["x" * 101]},
        {"subjects": [f"s{i}" for i in range(31)]},
        {"subjects": ["math"], "lead": True},
    ],
)
async def test_assign_teacher_refuses_bad_bodies(
    client: httpx.AsyncClient, world: World, as_role: Headers, body: dict[str, Any]
) -> None:
    response = await client.put(
        teacher_url(world, world.teacher.id), json=body, headers=as_role("admin")
    )
    assert response.status_code == 422
    assert (await stored_class(world)).subjects_of(world.teacher.id) == ["math"]  # type: ignore[arg-type]


async def test_assign_teacher_refuses_non_teachers_and_unknown_users(
    client: httpx.AsyncClient,
    world: World,
    as_role: Headers,
    make_user: UserFactory,
    foreign_admin: User,
) -> None:
    headers = as_role("admin")
    body = {"subjects": ["math"]}
    wrong_role = await client.put(teacher_url(world, world.parent.id), json=body, headers=headers)
    assert wrong_role.status_code == 404
    assert wrong_role.json() == {"detail": "Teacher not found"}

    elsewhere = await make_user(Role.teacher, school_ids=foreign_admin.school_ids)
    for teacher_id in ("nope", ObjectId(), elsewhere.id):
        response = await client.put(teacher_url(world, teacher_id), json=body, headers=headers)
        assert response.status_code == 404
    unknown_class = await client.put(
        teacher_url(world, world.teacher.id, ObjectId()), json=body, headers=headers
    )
    assert unknown_class.status_code == 404
    assert len((await stored_class(world)).teachers) == 1


async def test_unassigning_a_teacher_is_idempotent(
    client: httpx.AsyncClient, world: World, as_role: Headers, login_as: LoginAs
) -> None:
    for _ in range(2):
        response = await client.delete(
            teacher_url(world, world.teacher.id), headers=as_role("admin")
        )
        assert response.status_code == 204
    assert (await stored_class(world)).teachers == []
    # No longer their class.
    read = await client.get(
        f"/schools/{world.school.id}/classes/{world.class_5a.id}", headers=as_role("teacher")
    )
    assert read.status_code == 403
    malformed = await client.delete(teacher_url(world, "bad"), headers=as_role("admin"))
    assert malformed.status_code == 404


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("who", REFUSED_ROLES)
async def test_only_admins_assign_teachers(
    client: httpx.AsyncClient, world: World, as_role: Headers, method: str, who: str
) -> None:
    response = await client.request(
        method,
        teacher_url(world, world.teacher.id),
        json={"subjects": ["history"]} if method == "PUT" else None,
        headers=as_role(who),
    )
    assert response.status_code == 403
    assert (await stored_class(world)).subjects_of(world.teacher.id) == ["math"]  # type: ignore[arg-type]
