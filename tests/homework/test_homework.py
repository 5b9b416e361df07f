"""Homework over HTTP: set by the class's teacher of the subject, heard by the class and the
parents following them (a daily digest by default), listed per student by due date,
changed or deleted by its author while they teach the class."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.auth.models import Role, User
from app.schools.models import School, SchoolClass, TeacherAssignment
from tests.attendance.helpers import other_school_admin
from tests.conftest import UserFactory, World
from tests.delivery.test_grade_emails import follow
from tests.grades.helpers import add_class, assign_teacher
from tests.homework.helpers import homework_set, name_math, school_day, set_homework

Login = Callable[[User], dict[str, str]]


async def inbox(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/notifications", params={"topic": "homework"}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_set_homework_reaches_the_class_and_its_parents_in_their_language(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    await name_math(client, login_as(world.admin), world)
    russian = await make_user(Role.parent, locale="ru", full_name="Мария Иванова")
    await follow(world, russian)
    await follow(world)
    due = school_day(world, 1)

    body = await homework_set(
        client,
        login_as(world.teacher),
        world,
        subject="  MATH ",
        due=due,
        text="Exercises 12-15\non page 40",
        links=["https://example.org/fractions"],
    )

    assert body["subject"] == "math" and body["subject_name"] == "Mathematics"
    assert body["due"] == due and body["text"] == "Exercises 12-15\non page 40"
    assert body["links"] == ["https://example.org/fractions"]
    assert body["author_id"] == str(world.teacher.id)
    [for_student] = await inbox(client, login_as(world.student))
    assert for_student["title"].startswith("5A, Mathematics: homework for ")
    assert for_student["body"] == "Exercises 12-15\non page 40"
    [for_parent] = await inbox(client, login_as(russian))
    assert for_parent["title"].startswith("5A, Математика: домашнее задание на ")
    assert len(await inbox(client, login_as(world.parent))) == 1
    # The author is not told of their own homework.
    assert await inbox(client, login_as(world.teacher)) == []


async def test_homework_email_is_a_daily_digest_by_default(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    preferences = await client.get("/users/me/preferences", headers=login_as(world.parent))
    assert preferences.json()["email"]["homework"] == "daily"
    assert preferences.json()["email"]["attendance"] == "immediate"


async def test_a_parent_not_following_the_child_and_other_classes_hear_nothing(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    other_class = await add_class(world, "6B")
    outsider = await make_user(Role.student, school_ids=[world.school.id])
    school = await School.get(world.school.id)
    assert school is not None and outsider.id is not None
    found = school.find_class(other_class.id)
    assert found is not None
    found.student_ids.append(outsider.id)
    await school.save()

    await homework_set(client, login_as(world.teacher), world)

    # world.parent is linked but never followed the child (no subscription).
    assert await inbox(client, login_as(world.parent)) == []
    assert await inbox(client, login_as(outsider)) == []
    assert len(await inbox(client, login_as(world.student))) == 1


async def test_the_schools_admin_may_set_homework(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    body = await homework_set(client, login_as(world.admin), world, subject="  History ")
    assert body["author_id"] == str(world.admin.id) and body["subject"] == "history"
    # A subject the school's list did not know joins it, named by its code for now.
    listed = await client.get(f"/schools/{world.school.id}/subjects", headers=login_as(world.admin))
    assert "history" in [s["code"] for s in listed.json()["subjects"]]


@pytest.mark.parametrize("who", ["student", "parent"])
async def test_students_and_parents_may_not_set_homework(
    client: httpx.AsyncClient, world: World, login_as: Login, who: str
) -> None:
    response = await set_homework(client, login_as(getattr(world, who)), world)
    assert response.status_code == 403


async def test_a_teacher_of_another_subject_or_class_may_not_set_it(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    russian = await make_user(Role.teacher, school_ids=[world.school.id])
    await assign_teacher(world, russian, ["russian"])
    stranger = await make_user(Role.teacher, school_ids=[world.school.id])

    wrong_subject = await set_homework(client, login_as(russian), world)
    not_their_class = await set_homework(client, login_as(stranger), world)

    assert wrong_subject.status_code == 403
    assert wrong_subject.json()["detail"] == "You do not teach this subject in this class"
    assert not_their_class.status_code == 403


async def test_another_schools_admin_may_not_set_homework(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    response = await set_homework(client, login_as(await other_school_admin(make_user)), world)
    assert response.status_code == 403


async def test_an_unknown_class_is_404_and_no_token_401(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    unknown = await set_homework(
        client, login_as(world.teacher), world, class_id="6571f0b2c8a1d2e3f4a5b6c7"
    )
    anonymous = await set_homework(client, {}, world)
    assert unknown.status_code == 404
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"text": ""}, "text"),
        ({"text": "Read \u202echapter 3"}, "control or text-direction"),
        ({"due": "tomorrow"}, "due"),
        ({"links": ["javascript:alert(1)"]}, "http:// or https://"),
        ({"links": ["https://example.org"] * 11}, "links"),
        ({"subject": " "}, "subject"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_homework_is_refused_saying_what_is_wrong(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    fields: dict[str, Any],
    says: str,
) -> None:
    response = await set_homework(client, login_as(world.teacher), world, **fields)
    assert response.status_code == 422
    assert says in response.text


async def test_a_due_date_in_the_past_is_refused(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    response = await set_homework(client, login_as(world.teacher), world, due=school_day(world, -1))
    assert response.status_code == 422
    assert "is in the past" in response.json()["detail"]


# --- the student's list ---------------------------------------------------------------


async def listed(
    client: httpx.AsyncClient, headers: dict[str, str], world: World, **params: Any
) -> httpx.Response:
    return await client.get(
        f"/students/{world.student.id}/homework", params=params, headers=headers
    )


async def test_the_list_is_soonest_due_first_paged_and_filtered_by_dates(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    teacher = login_as(world.teacher)
    for days in (3, 1, 2):
        await homework_set(client, teacher, world, due=school_day(world, days), text=f"In {days}")

    first = await listed(client, login_as(world.parent), world, limit=2)
    assert first.status_code == 200, first.text
    assert [h["text"] for h in first.json()["items"]] == ["In 1", "In 2"]
    cursor = first.json()["next_cursor"]
    second = await listed(client, login_as(world.parent), world, limit=2, cursor=cursor)
    assert [h["text"] for h in second.json()["items"]] == ["In 3"]
    assert second.json()["next_cursor"] is None

    window = await listed(
        client, teacher, world, **{"from": school_day(world, 2), "to": school_day(world, 2)}
    )
    assert [h["text"] for h in window.json()["items"]] == ["In 2"]


async def test_the_list_names_the_subject_in_the_readers_language(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    await name_math(client, login_as(world.admin), world)
    russian = await make_user(Role.parent, locale="ru")
    await follow(world, russian)
    await homework_set(client, login_as(world.teacher), world)

    [item] = (await listed(client, login_as(russian), world)).json()["items"]
    assert item["subject"] == "math" and item["subject_name"] == "Математика"


@pytest.mark.parametrize("who", ["student", "parent", "teacher", "admin"])
async def test_the_students_circle_reads_the_list(
    client: httpx.AsyncClient, world: World, login_as: Login, who: str
) -> None:
    await homework_set(client, login_as(world.teacher), world)
    response = await listed(client, login_as(getattr(world, who)), world)
    assert response.status_code == 200
    assert len(response.json()["items"]) == 1


async def test_others_may_not_read_the_list(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    other_parent = await make_user(Role.parent)
    other_student = await make_user(Role.student, school_ids=[world.school.id])
    other_teacher = await make_user(Role.teacher, school_ids=[world.school.id])
    for user in (
        other_parent,
        other_student,
        other_teacher,
        await other_school_admin(make_user),
    ):
        response = await listed(client, login_as(user), world)
        assert response.status_code == 403, user.role


async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    parent = login_as(world.parent)
    backwards = await listed(
        client, parent, world, **{"from": school_day(world, 2), "to": school_day(world, 1)}
    )
    assert backwards.status_code == 422 and "from is after to" in backwards.text
    assert (await listed(client, parent, world, cursor="nonsense")).status_code == 422
    assert (await listed(client, parent, world, **{"from": "soon"})).status_code == 422
    missing = await client.get(
        "/students/6571f0b2c8a1d2e3f4a5b6c7/homework", headers=login_as(world.admin)
    )
    assert missing.status_code == 404


async def test_a_student_who_left_the_class_no_longer_sees_its_homework(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    await homework_set(client, login_as(world.teacher), world)
    removed = await client.delete(
        f"/schools/{world.school.id}/classes/{world.class_5a.id}/students/{world.student.id}",
        headers=login_as(world.admin),
    )
    assert removed.status_code == 204
    response = await listed(client, login_as(world.student), world)
    assert response.status_code == 200 and response.json()["items"] == []


# --- changing and deleting ----------------------------------------------------------------


async def test_the_author_changes_it_and_the_class_hears_of_the_change(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    homework = await homework_set(client, login_as(world.teacher), world)

    response = await client.patch(
        f"/homework/{homework['id']}",
        json={"text": "Exercises 12-20", "due": school_day(world, 2), "links": []},
        headers=login_as(world.teacher),
    )

    assert response.status_code == 200, response.text
    assert response.json()["text"] == "Exercises 12-20"
    assert response.json()["due"] == school_day(world, 2)
    titles = [n["title"] for n in await inbox(client, login_as(world.student))]
    assert len(titles) == 2 and titles[0].endswith(" changed")
    [item] = (await listed(client, login_as(world.student), world)).json()["items"]
    assert item["text"] == "Exercises 12-20"


async def test_the_author_deletes_it(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    homework = await homework_set(client, login_as(world.teacher), world)
    response = await client.delete(f"/homework/{homework['id']}", headers=login_as(world.teacher))
    assert response.status_code == 204
    assert (await listed(client, login_as(world.student), world)).json()["items"] == []
    again = await client.delete(f"/homework/{homework['id']}", headers=login_as(world.teacher))
    assert again.status_code == 404


async def test_only_the_author_while_teaching_the_class_or_the_admin_may_change_it(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    homework = await homework_set(client, login_as(world.teacher), world)
    path = f"/homework/{homework['id']}"
    colleague = await make_user(Role.teacher, school_ids=[world.school.id])
    await assign_teacher(world, colleague, ["math"])
    change = {"text": "Something else"}

    for user in (
        colleague,
        world.student,
        world.parent,
        await other_school_admin(make_user),
    ):
        assert (await client.patch(path, json=change, headers=login_as(user))).status_code == 403
        assert (await client.delete(path, headers=login_as(user))).status_code == 403

    by_admin = await client.patch(path, json=change, headers=login_as(world.admin))
    assert by_admin.status_code == 200

    # Taken off the class, the author keeps no hold on it.
    school = await School.get(world.school.id)
    assert school is not None
    taught: SchoolClass | None = school.find_class(world.class_5a.id)
    assert taught is not None
    taught.teachers = [TeacherAssignment(teacher_id=colleague.id, subjects=["math"])]
    await school.save()
    gone = await client.patch(path, json=change, headers=login_as(world.teacher))
    assert gone.status_code == 403


async def test_a_bad_change_is_422_and_an_unknown_id_404(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    homework = await homework_set(client, login_as(world.teacher), world)
    teacher = login_as(world.teacher)
    for body in ({"text": ""}, {"due": school_day(world, -3)}, {"author_id": "x"}):
        response = await client.patch(f"/homework/{homework['id']}", json=body, headers=teacher)
        assert response.status_code == 422, body
    unknown = await client.patch(
        "/homework/6571f0b2c8a1d2e3f4a5b6c7", json={"text": "x"}, headers=teacher
    )
    assert unknown.status_code == 404
