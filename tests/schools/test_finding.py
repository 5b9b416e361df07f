"""Finding one's way: /users/me/classes for every role, a student's guardians for staff."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from app.auth.models import Locale, Role, User
from app.core.security import utcnow
from app.schools.models import GuardianLink, School, SchoolClass, TeacherAssignment
from tests.conftest import UserFactory, World

Headers = Callable[[str], dict[str, str]]
LoginAs = Callable[[User], dict[str, str]]


@pytest.fixture
async def second_class(world: World, make_user: UserFactory) -> SchoolClass:
    """6B of the same school: the world's teacher teaches physics there to two students."""
    assert world.school.id is not None and world.teacher.id is not None
    students = [await make_user(Role.student, school_ids=[world.school.id]) for _ in range(2)]
    six_b = SchoolClass(
        name="6B",
        student_ids=[s.id for s in students if s.id is not None],
        teachers=[TeacherAssignment(teacher_id=world.teacher.id, subjects=["physics"])],
    )
    world.school.classes.append(six_b)
    await world.school.save()
    return six_b


async def test_a_teacher_lists_her_classes_with_subjects_and_roster_sizes(
    client: httpx.AsyncClient, world: World, as_role: Headers, second_class: SchoolClass
) -> None:
    response = await client.get("/users/me/classes", headers=as_role("teacher"))

    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "school_id": str(world.school.id),
                "school_name": "School 1",
                "class_id": str(world.class_5a.id),
                "class_name": "5A",
                "subjects": ["math"],
                "students": 1,
            },
            {
                "school_id": str(world.school.id),
                "school_name": "School 1",
                "class_id": str(second_class.id),
                "class_name": "6B",
                "subjects": ["physics"],
                "students": 2,
            },
        ]
    }


async def test_subjects_read_in_the_readers_language(
    client: httpx.AsyncClient, world: World, as_role: Headers, login_as: LoginAs
) -> None:
    named = await client.put(
        f"/schools/{world.school.id}/subjects",
        json={"subjects": [{"code": "math", "names": {"ru": "Математика", "en": "Mathematics"}}]},
        headers=as_role("admin"),
    )
    assert named.status_code == 200, named.text
    world.teacher.locale = Locale.ru
    await world.teacher.save()

    teacher = await client.get("/users/me/classes", headers=login_as(world.teacher))
    student = await client.get("/users/me/classes", headers=as_role("student"))

    assert [c["subjects"] for c in teacher.json()["items"]] == [["Математика"]]
    assert [c["subjects"] for c in student.json()["items"]] == [["Mathematics"]]


async def test_students_and_parents_see_their_own_classes_without_rosters(
    client: httpx.AsyncClient,
    world: World,
    as_role: Headers,
    make_user: UserFactory,
    login_as: LoginAs,
    second_class: SchoolClass,
) -> None:
    student = (await client.get("/users/me/classes", headers=as_role("student"))).json()
    assert [(c["class_name"], c["subjects"], c["students"]) for c in student["items"]] == [
        ("5A", ["math"], None)
    ]

    # A second child in 6B: the parent sees both children's classes.
    assert world.parent.id is not None
    await GuardianLink(parent_id=world.parent.id, student_id=second_class.student_ids[0]).insert()
    parent = (await client.get("/users/me/classes", headers=as_role("parent"))).json()
    assert [(c["class_name"], c["students"]) for c in parent["items"]] == [
        ("5A", None),
        ("6B", None),
    ]

    lonely = await make_user(Role.parent)
    assert (await client.get("/users/me/classes", headers=login_as(lonely))).json() == {"items": []}


async def test_an_admin_sees_her_schools_classes_and_not_deleted_schools(
    client: httpx.AsyncClient, world: World, as_role: Headers, make_user: UserFactory
) -> None:
    gone = School(name="Closed school", deleted_at=utcnow(), classes=[SchoolClass(name="1A")])
    await gone.insert()
    world.admin.school_ids.append(gone.id)  # type: ignore[arg-type]
    await world.admin.save()

    response = await client.get("/users/me/classes", headers=as_role("admin"))

    assert [(c["class_name"], c["students"]) for c in response.json()["items"]] == [("5A", 1)]


async def test_my_classes_needs_a_login(client: httpx.AsyncClient) -> None:
    assert (await client.get("/users/me/classes")).status_code == 401


# Guardians of a student


def guardians_url(world: World) -> str:
    return f"/students/{world.student.id}/guardians"


async def test_admin_and_teacher_read_the_guardians_newest_link_first(
    client: httpx.AsyncClient, world: World, as_role: Headers, make_user: UserFactory
) -> None:
    second = await make_user(Role.parent, full_name="Boris Ivanov", email="boris@example.org")
    assert second.id is not None and world.student.id is not None
    later = utcnow() + timedelta(minutes=1)
    await GuardianLink(parent_id=second.id, student_id=world.student.id, created_at=later).insert()
    deleted = await make_user(Role.parent, deleted_at=utcnow())
    assert deleted.id is not None
    await GuardianLink(parent_id=deleted.id, student_id=world.student.id).insert()

    for who in ("admin", "teacher"):
        response = await client.get(guardians_url(world), headers=as_role(who))
        assert response.status_code == 200
        body = response.json()
        assert [g["full_name"] for g in body["items"]] == ["Boris Ivanov", world.parent.full_name]
        assert body["items"][0]["email"] == "boris@example.org"
        assert body["items"][0]["user_id"] == str(second.id)
        assert body["items"][0]["linked_at"].startswith(later.isoformat()[:16])

    # Page by page, the same people (a deleted parent's link shows on no page).
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        page = await client.get(guardians_url(world), params=params, headers=as_role("admin"))
        seen += [g["full_name"] for g in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == ["Boris Ivanov", world.parent.full_name]


@pytest.mark.parametrize("who", ["student", "parent", "foreign_admin"])
async def test_others_may_not_read_a_childs_guardians(
    client: httpx.AsyncClient, world: World, as_role: Headers, who: str
) -> None:
    response = await client.get(guardians_url(world), headers=as_role(who))
    assert response.status_code == 403


async def test_a_teacher_of_another_class_and_a_bad_id_are_refused(
    client: httpx.AsyncClient, world: World, make_user: UserFactory, login_as: LoginAs
) -> None:
    stranger = await make_user(Role.teacher, school_ids=[world.school.id])
    refused = await client.get(guardians_url(world), headers=login_as(stranger))
    assert refused.status_code == 403
    missing = await client.get("/students/nope/guardians", headers=login_as(world.admin))
    assert missing.status_code == 404
