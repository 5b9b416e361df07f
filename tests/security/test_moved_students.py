"""A student's former school lets go of them (issue 18, finding 1).

Rights follow current relations: an admin acts on a student, their grades, guardians and
codes only while administering every school the student is in now, and a student taken
off a school's last roster leaves that school. Replayed over HTTP: North's admin after the
student moved to South.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from app.auth.models import Role, User
from app.schools.models import GuardianLink, School, SchoolClass, TeacherAssignment
from tests.conftest import UserFactory, World

LoginAs = Callable[[User], dict[str, str]]


@dataclass
class South:
    school: School
    class_s1: SchoolClass
    admin: User
    teacher: User
    district_admin: User


@pytest.fixture
async def south(world: World, make_user: UserFactory) -> South:
    """A second school with a class and a maths teacher, its own admin, and a district admin
    who runs both schools."""
    school = School(name="South", timezone="Europe/Moscow")
    await school.insert()
    assert school.id is not None and world.school.id is not None
    admin = await make_user(Role.admin, school_ids=[school.id])
    teacher = await make_user(Role.teacher, school_ids=[school.id])
    district_admin = await make_user(Role.admin, school_ids=[world.school.id, school.id])
    assert teacher.id is not None
    class_s1 = SchoolClass(
        name="S1", teachers=[TeacherAssignment(teacher_id=teacher.id, subjects=["math"])]
    )
    school.classes.append(class_s1)
    await school.save()
    return South(school, class_s1, admin, teacher, district_admin)


def roster_url(school: School, school_class: SchoolClass | str, student: User) -> str:
    class_id = school_class if isinstance(school_class, str) else school_class.id
    return f"/schools/{school.id}/classes/{class_id}/students/{student.id}"


async def move_to_south(
    client: httpx.AsyncClient, world: World, south: South, login_as: LoginAs
) -> None:
    """The district admin enrols the student at South and takes them off North's 5A; a
    South teacher then grades them with a comment."""
    as_district = login_as(south.district_admin)
    enrolled = await client.put(
        roster_url(south.school, south.class_s1, world.student), headers=as_district
    )
    assert enrolled.status_code == 204, enrolled.text
    left = await client.delete(
        roster_url(world.school, world.class_5a, world.student), headers=as_district
    )
    assert left.status_code == 204, left.text
    graded = await client.post(
        "/grades",
        headers=login_as(south.teacher),
        json={
            "student_id": str(world.student.id),
            "class_id": str(south.class_s1.id),
            "subject": "math",
            "value": 3,
            "comment": "Talk to me at South",
        },
    )
    assert graded.status_code == 201, graded.text


async def test_a_student_taken_off_a_schools_last_roster_leaves_that_school(
    client: httpx.AsyncClient, world: World, south: South, login_as: LoginAs
) -> None:
    await move_to_south(client, world, south, login_as)

    seen = await client.get(f"/users/{world.student.id}", headers=login_as(south.admin))
    assert seen.status_code == 200, seen.text
    assert seen.json()["school_ids"] == [str(south.school.id)]


async def test_the_former_schools_admin_no_longer_reads_the_students_grades(
    client: httpx.AsyncClient, world: World, south: South, login_as: LoginAs
) -> None:
    await move_to_south(client, world, south, login_as)
    as_north = login_as(world.admin)

    grades = await client.get(f"/students/{world.student.id}/grades", headers=as_north)
    summary = await client.get(f"/students/{world.student.id}/grades/summary", headers=as_north)

    assert (grades.status_code, summary.status_code) == (403, 403)
    assert "Talk to me at South" not in grades.text
    # South's admin reads them.
    at_south = await client.get(
        f"/students/{world.student.id}/grades", headers=login_as(south.admin)
    )
    assert at_south.status_code == 200
    assert [g["comment"] for g in at_south.json()["items"]] == ["Talk to me at South"]


async def test_the_former_schools_admin_issues_no_guardian_code_for_the_child(
    client: httpx.AsyncClient, world: World, south: South, login_as: LoginAs
) -> None:
    await move_to_south(client, world, south, login_as)
    url = f"/students/{world.student.id}/guardian-codes"

    by_north = await client.post(url, headers=login_as(world.admin))
    by_south = await client.post(url, headers=login_as(south.admin))

    assert by_north.status_code == 403
    assert "code" not in by_north.json()
    assert by_south.status_code == 201


async def test_the_former_schools_admin_cannot_unlink_the_childs_parents(
    client: httpx.AsyncClient, world: World, south: South, login_as: LoginAs
) -> None:
    await move_to_south(client, world, south, login_as)

    unlinked = await client.delete(
        f"/students/{world.student.id}/guardians/{world.parent.id}", headers=login_as(world.admin)
    )

    assert unlinked.status_code == 403
    assert await GuardianLink.find_one({"student_id": world.student.id}) is not None


async def test_the_former_schools_admin_no_longer_lists_the_child_or_the_parents(
    client: httpx.AsyncClient, world: World, south: South, login_as: LoginAs
) -> None:
    await move_to_south(client, world, south, login_as)

    listed = await client.get("/users", headers=login_as(world.admin))

    assert listed.status_code == 200
    emails = {user["email"] for user in listed.json()["items"]}
    assert world.student.email not in emails
    assert world.parent.email not in emails
    at_south = await client.get("/users", headers=login_as(south.admin))
    assert {world.student.email, world.parent.email} <= {
        u["email"] for u in at_south.json()["items"]
    }


async def test_a_student_let_go_by_their_school_can_be_enrolled_by_the_next(
    client: httpx.AsyncClient, world: World, south: South, login_as: LoginAs
) -> None:
    """North's admin takes the student off North's only roster they sat on; South's admin,
    who runs no school of theirs, can then enrol them (before, North kept them for ever)."""
    left = await client.delete(
        roster_url(world.school, world.class_5a, world.student), headers=login_as(world.admin)
    )
    assert left.status_code == 204

    enrolled = await client.put(
        roster_url(south.school, south.class_s1, world.student), headers=login_as(south.admin)
    )

    assert enrolled.status_code == 204, enrolled.text
    codes = await client.post(
        f"/students/{world.student.id}/guardian-codes", headers=login_as(world.admin)
    )
    assert codes.status_code == 403


async def test_a_student_kept_on_another_roster_of_the_school_stays_in_it(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    as_admin = login_as(world.admin)
    created = await client.post(
        f"/schools/{world.school.id}/classes", headers=as_admin, json={"name": "5B"}
    )
    assert created.status_code == 201
    class_5b = created.json()["id"]
    # One class per school: off 5A, onto 5B, and 5B's roster keeps them in the school.
    await client.delete(roster_url(world.school, world.class_5a, world.student), headers=as_admin)
    moved = await client.put(roster_url(world.school, class_5b, world.student), headers=as_admin)
    assert moved.status_code == 204

    read = await client.get(f"/users/{world.student.id}", headers=as_admin)
    assert read.json()["school_ids"] == [str(world.school.id)]
    grades = await client.get(f"/students/{world.student.id}/grades", headers=as_admin)
    assert grades.status_code == 200


async def test_a_student_of_two_schools_is_managed_only_by_an_admin_of_both(
    client: httpx.AsyncClient, world: World, south: South, login_as: LoginAs
) -> None:
    """The student sits in North's 5A and South's S1: either school's admin alone reaches
    only what both schools share, so neither reads the grades or issues codes."""
    enrolled = await client.put(
        roster_url(south.school, south.class_s1, world.student),
        headers=login_as(south.district_admin),
    )
    assert enrolled.status_code == 204
    grades_url = f"/students/{world.student.id}/grades"
    codes_url = f"/students/{world.student.id}/guardian-codes"

    for admin in (world.admin, south.admin):
        assert (await client.get(grades_url, headers=login_as(admin))).status_code == 403
        assert (await client.post(codes_url, headers=login_as(admin))).status_code == 403
    as_district = login_as(south.district_admin)
    assert (await client.get(grades_url, headers=as_district)).status_code == 200
    assert (await client.post(codes_url, headers=as_district)).status_code == 201


async def test_a_code_issued_by_the_former_school_no_longer_links_to_the_child(
    client: httpx.AsyncClient,
    world: World,
    south: South,
    login_as: LoginAs,
    make_user: UserFactory,
) -> None:
    """A code North's admin issued before the move dies with their hold on the child: a
    code links only while its issuer may still issue one for that child."""
    issued = await client.post(
        f"/students/{world.student.id}/guardian-codes", headers=login_as(world.admin)
    )
    assert issued.status_code == 201
    await move_to_south(client, world, south, login_as)
    stranger = await make_user(Role.parent)

    redeemed = await client.post(
        "/users/me/children", headers=login_as(stranger), json={"code": issued.json()["code"]}
    )

    assert redeemed.status_code == 400
    assert await GuardianLink.find_one({"parent_id": stranger.id}) is None
    # A code South's admin issues now links as ever.
    fresh = await client.post(
        f"/students/{world.student.id}/guardian-codes", headers=login_as(south.admin)
    )
    linked = await client.post(
        "/users/me/children", headers=login_as(stranger), json={"code": fresh.json()["code"]}
    )
    assert linked.status_code == 201


async def test_a_code_from_a_teacher_taken_off_the_class_no_longer_links(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, make_user: UserFactory
) -> None:
    issued = await client.post(
        f"/students/{world.student.id}/guardian-codes", headers=login_as(world.teacher)
    )
    assert issued.status_code == 201
    removed = await client.delete(
        f"/schools/{world.school.id}/classes/{world.class_5a.id}/teachers/{world.teacher.id}",
        headers=login_as(world.admin),
    )
    assert removed.status_code == 204
    stranger = await make_user(Role.parent)

    redeemed = await client.post(
        "/users/me/children", headers=login_as(stranger), json={"code": issued.json()["code"]}
    )

    assert redeemed.status_code == 400
    assert await GuardianLink.find_one({"parent_id": stranger.id}) is None


async def test_the_former_schools_admin_no_longer_changes_the_students_grades(
    client: httpx.AsyncClient, world: World, south: South, login_as: LoginAs
) -> None:
    """A grade given at North before the move stays on the record South and the parents
    read; North's admin, who runs no school of the student now, may no longer change it."""
    given = await client.post(
        "/grades",
        headers=login_as(world.admin),
        json={
            "student_id": str(world.student.id),
            "class_id": str(world.class_5a.id),
            "subject": "math",
            "value": 4,
        },
    )
    assert given.status_code == 201
    grade_url = f"/grades/{given.json()['id']}"
    await move_to_south(client, world, south, login_as)
    as_north = login_as(world.admin)

    patched = await client.patch(grade_url, headers=as_north, json={"value": 2})
    deleted = await client.delete(grade_url, headers=as_north)

    assert (patched.status_code, deleted.status_code) == (403, 403)
    by_district = await client.patch(
        grade_url, headers=login_as(south.district_admin), json={"value": 5}
    )
    assert by_district.status_code == 200


async def test_an_admin_of_one_of_two_schools_does_not_grade_the_student(
    client: httpx.AsyncClient, world: World, south: South, login_as: LoginAs
) -> None:
    enrolled = await client.put(
        roster_url(south.school, south.class_s1, world.student),
        headers=login_as(south.district_admin),
    )
    assert enrolled.status_code == 204
    grade = {
        "student_id": str(world.student.id),
        "class_id": str(world.class_5a.id),
        "subject": "math",
        "value": 4,
    }

    by_north = await client.post("/grades", headers=login_as(world.admin), json=grade)
    by_teacher = await client.post("/grades", headers=login_as(world.teacher), json=grade)

    # The class's teacher grades her class as ever: the rule is about admins' reach.
    assert (by_north.status_code, by_teacher.status_code) == (403, 201)


async def test_a_parent_following_the_former_school_hears_nothing_more_from_it(
    client: httpx.AsyncClient, world: World, south: South, login_as: LoginAs
) -> None:
    followed = await client.post(
        "/subscriptions",
        headers=login_as(world.parent),
        json={"target_type": "school", "target_id": str(world.school.id)},
    )
    assert followed.status_code == 201
    await move_to_south(client, world, south, login_as)

    posted = await client.post(
        "/announcements",
        headers=login_as(world.admin),
        json={"school_id": str(world.school.id), "title": "North fair", "body": "Sunday"},
    )
    assert posted.status_code == 202

    inbox = await client.get("/notifications", headers=login_as(world.parent))
    assert "North fair" not in [item["title"] for item in inbox.json()["items"]]


@pytest.mark.parametrize(
    "read", ["timetable", "homework", "attendance", "guardians", "grades/summary"]
)
async def test_the_former_school_reads_none_of_the_students_school_day(
    client: httpx.AsyncClient, world: World, south: South, login_as: LoginAs, read: str
) -> None:
    # The producers built after this sweep (the week, homework, attendance) read a student
    # through the same check: North's admin and 5A's teacher let go, South's admin reads.
    path = f"/students/{world.student.id}/{read}"
    assert (await client.get(path, headers=login_as(world.admin))).status_code == 200
    await move_to_south(client, world, south, login_as)

    for former in (world.admin, world.teacher):
        refused = await client.get(path, headers=login_as(former))
        assert refused.status_code == 403, (former.role, refused.text)
    assert (await client.get(path, headers=login_as(south.admin))).status_code == 200
