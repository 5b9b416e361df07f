"""Who may act on which school, class and student — written once, used by every router."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from beanie import PydanticObjectId
from fastapi import Depends, Query

from app.auth import directory
from app.auth import service as auth_service
from app.auth.access import AdminUser, CurrentUser
from app.auth.models import Role, User
from app.core.db import parse_object_id
from app.core.errors import Forbidden, NotFound, Unprocessable
from app.schools import repository, seats
from app.schools.models import School, SchoolClass
from app.schools.seats import Seat


def is_school_admin(user: User, school_id: PydanticObjectId) -> bool:
    return user.role == Role.admin and school_id in user.school_ids


def class_audience(
    author: User,
    school: School,
    class_ids: Sequence[PydanticObjectId],
    *,
    not_staff: str,
    no_classes: str,
    teacher_refusal: str | None = None,
) -> list[PydanticObjectId]:
    """The classes of `school` (each once, in the order given) that `author` may address:
    an admin of the school any of them, or all when none are named; a teacher of the school
    only classes they teach. Unknown classes are a 422 before any refusal. The producer
    gives its own words: `not_staff` for anyone else, `no_classes` for a teacher who names
    none, and `teacher_refusal` for a rule of its own that refuses any teacher."""
    assert school.id is not None and author.id is not None
    wanted = list(dict.fromkeys(class_ids))
    addressed = {c: school.find_class(c) for c in wanted}
    unknown = [str(c) for c, found in addressed.items() if found is None]
    if unknown:
        raise Unprocessable(f"Unknown class ids for this school: {', '.join(unknown)}")
    if is_school_admin(author, school.id):
        return wanted
    if author.role != Role.teacher or school.id not in author.school_ids:
        raise Forbidden(not_staff)
    if teacher_refusal is not None:
        raise Forbidden(teacher_refusal)
    if not wanted:
        raise Forbidden(no_classes)
    foreign = [
        str(c) for c, found in addressed.items() if found and not found.has_teacher(author.id)
    ]
    if foreign:
        raise Forbidden(f"You do not teach these classes: {', '.join(foreign)}")
    return wanted


async def load_school(school_id: str | PydanticObjectId | None) -> School:
    """A live school, or 404."""
    if school_id is None:
        raise NotFound("School not found")
    oid = (
        school_id
        if isinstance(school_id, PydanticObjectId)
        else parse_object_id(school_id, what="School")
    )
    school = await repository.get(oid)
    if school is None or school.deleted_at is not None:
        raise NotFound("School not found")
    return school


async def _school_with_one_class(
    query: dict[str, Any], class_id: PydanticObjectId
) -> School | None:
    """A School holding only that class (or none): read-only, never saved back."""
    return await repository.with_one_class(query, class_id)


async def load_class(class_id: PydanticObjectId) -> tuple[School, SchoolClass]:
    """A class of a live school, with its school (holding only that class), or 404."""
    school = await _school_with_one_class({"classes.id": class_id, "deleted_at": None}, class_id)
    school_class = school.find_class(class_id) if school is not None else None
    if school is None or school_class is None:
        raise NotFound("Class not found")
    return school, school_class


async def school_with_class(
    school_id: PydanticObjectId, class_id: PydanticObjectId
) -> tuple[School, SchoolClass | None] | None:
    """A live school (holding only that class) and that class of it if it still has it;
    None when the school is gone."""
    school = await _school_with_one_class({"_id": school_id, "deleted_at": None}, class_id)
    if school is None:
        return None
    return school, school.find_class(class_id)


async def load_student(student_id: str | PydanticObjectId) -> User:
    oid = (
        student_id
        if isinstance(student_id, PydanticObjectId)
        else parse_object_id(student_id, what="Student")
    )
    student = await auth_service.get_live_user(oid)
    if student is None or student.role != Role.student:
        raise NotFound("Student not found")
    return student


def find_class(school: School, class_id: str) -> SchoolClass:
    school_class = school.find_class(parse_object_id(class_id, what="Class"))
    if school_class is None:
        raise NotFound("Class not found")
    return school_class


async def admin_school(school_id: str, user: CurrentUser) -> School:
    """The school named in the path, if the caller administers it."""
    school = await load_school(school_id)
    if not is_school_admin(user, school.id):  # type: ignore[arg-type]
        raise Forbidden("You are not an admin of this school")
    return school


AdminSchool = Annotated[School, Depends(admin_school)]


async def is_linked_guardian(parent_id: PydanticObjectId, student_id: PydanticObjectId) -> bool:
    return await repository.is_linked(parent_id, student_id)


async def teaches_student(teacher_id: PydanticObjectId, student_id: PydanticObjectId) -> bool:
    """Whether the teacher teaches a class of a live school with the student on its roster:
    the one place this relation is written."""
    return await repository.any_live_class(
        {"student_ids": student_id, "teachers.teacher_id": teacher_id}
    )


async def teaches_a_class_of(
    teacher_id: PydanticObjectId,
    school_id: PydanticObjectId,
    class_ids: Sequence[PydanticObjectId],
) -> bool:
    """Whether the teacher teaches one of these classes of this live school now."""
    if not class_ids:
        return False
    return await repository.any_live_class(
        {"id": {"$in": list(class_ids)}, "teachers.teacher_id": teacher_id}, school_id=school_id
    )


async def can_read_student(user: User, student: User) -> bool:
    assert user.id is not None and student.id is not None
    if user.role == Role.student:
        return user.id == student.id
    if user.role == Role.parent:
        return await is_linked_guardian(user.id, student.id)
    if user.role == Role.teacher:
        return await teaches_student(user.id, student.id)
    return can_manage_student(user, student)


async def readable_student(student_id: str, user: CurrentUser) -> User:
    """The student in the path, if the caller is them, a linked parent, their teacher or admin.

    The caller's relation is a question asked of this domain's own records (a parent's
    link, a teacher's class) while the student is read from auth's directory: two queries,
    one wait. A missing student answers 404 before any refusal."""
    oid = parse_object_id(student_id, what="Student")
    assert user.id is not None
    if user.role in (Role.parent, Role.teacher):
        student, related = await asyncio.gather(
            load_student(oid),
            is_linked_guardian(user.id, oid)
            if user.role == Role.parent
            else teaches_student(user.id, oid),
        )
    else:
        student = await load_student(oid)
        related = await can_read_student(user, student)  # no query for a student or an admin
    if not related:
        raise Forbidden("You may not see this student")
    return student


ReadableStudent = Annotated[User, Depends(readable_student)]


@dataclass(frozen=True)
class StudentSeats:
    """A student the caller may read, and the classes of live schools they sit in."""

    student: User
    seats: list[Seat]


async def readable_student_seats(student_id: str, user: CurrentUser) -> StudentSeats:
    """As `readable_student`, with the student's classes, in one round trip whoever asks:
    the student, their seats (whose teachers are the teacher's relation) and their parents
    (the parent's) come in one aggregation, for the reads of a school day that must not
    cost more than the caller, this and their data."""
    oid = parse_object_id(student_id, what="Student")
    assert user.id is not None
    if user.role == Role.student and user.id == oid:  # themselves: read already, and live
        return StudentSeats(student=user, seats=await seats.seats_of(oid))
    found = await seats.student_and_seats(oid)
    student = found.student
    if student is None or student.role != Role.student:
        raise NotFound("Student not found")
    if user.role == Role.parent:
        related = user.id in found.parent_ids
    elif user.role == Role.teacher:
        related = any(user.id in seat.teacher_ids for seat in found.seats)
    else:
        related = await can_read_student(user, student)  # no query for a student or an admin
    if not related:
        raise Forbidden("You may not see this student")
    return StudentSeats(student=student, seats=found.seats)


ReadableStudentSeats = Annotated[StudentSeats, Depends(readable_student_seats)]


USER_NOT_FOUND = "User not found"
NOT_THEIR_SCHOOL = "You are not an admin of this school"


async def schools_of(user: User) -> set[PydanticObjectId]:
    """The schools a user belongs to; a parent belongs to the schools of their children
    (their links, read here, then the children's schools, asked of auth's directory)."""
    if user.role != Role.parent:
        return set(user.school_ids)
    assert user.id is not None
    links = await repository.links_of_parent(user.id)
    return await _schools_of_children([link.student_id for link in links])


async def _schools_of_children(student_ids: list[PydanticObjectId]) -> set[PydanticObjectId]:
    if not student_ids:
        return set()
    return await directory.live_school_ids(student_ids)


def _administers_all(admin: User, schools: set[PydanticObjectId]) -> bool:
    return bool(schools) and all(is_school_admin(admin, school_id) for school_id in schools)


async def managed_user(user_id: str, admin: AdminUser) -> User:
    """The user in the path, if the caller administers every school of theirs.

    No such user, a deleted one and one out of reach answer alike, so the answer tells
    nothing about who exists.
    """
    # A malformed id answers the same 404: parse_object_id says "User not found" too.
    user = await auth_service.get_live_user(parse_object_id(user_id, what="User"))
    if user is None:
        raise NotFound(USER_NOT_FOUND)
    if not _administers_all(admin, await schools_of(user)):
        raise NotFound(USER_NOT_FOUND)
    return user


ManagedUser = Annotated[User, Depends(managed_user)]


async def can_view_class(user: User, school: School, school_class: SchoolClass) -> bool:
    """Admins of the school, the class's teachers, its students and their linked parents."""
    assert school.id is not None and user.id is not None
    if is_school_admin(user, school.id):
        return True
    if user.role == Role.teacher:
        return school_class.has_teacher(user.id)
    if user.role == Role.student:
        return user.id in school_class.student_ids
    if user.role == Role.parent and school_class.student_ids:
        return await repository.any_link(user.id, school_class.student_ids)
    return False


async def viewable_class(school_id: str, class_id: str, user: CurrentUser) -> SchoolClass:
    """The class in the path, if the caller may see it."""
    school = await load_school(school_id)
    school_class = find_class(school, class_id)
    if not await can_view_class(user, school, school_class):
        raise Forbidden("You are not a member of this class")
    return school_class


async def roster_class(school_id: str, class_id: str, user: CurrentUser) -> SchoolClass:
    """The class in the path, if the caller administers the school or teaches the class."""
    school = await load_school(school_id)
    school_class = find_class(school, class_id)
    assert school.id is not None and user.id is not None
    if not (is_school_admin(user, school.id) or school_class.has_teacher(user.id)):
        raise Forbidden("Only the school's admins and the class's teachers see the roster")
    return school_class


def can_manage_student(user: User, student: User) -> bool:
    """An admin of every school the student is in now.

    One shared school is not enough: the admin of a school the student sat in once, or of
    one of two they sit in, would read the other school's grades and reach its parents.
    """
    return _administers_all(user, set(student.school_ids))


async def managed_student(student_id: str, user: AdminUser) -> User:
    """The student in the path, if the caller administers every school of theirs."""
    student = await load_student(student_id)
    if not can_manage_student(user, student):
        raise Forbidden("You are not an admin of every school of this student")
    return student


async def code_student(student_id: str, user: CurrentUser) -> User:
    """The student in the path, if the caller runs every school of theirs or teaches them."""
    if user.role not in (Role.admin, Role.teacher):
        raise Forbidden("Only the school's admins and the child's teachers issue guardian codes")
    return await _staff_student(student_id, user)


async def guardians_student(student_id: str, user: CurrentUser) -> User:
    """The student in the path, if the caller runs every school of theirs or teaches them:
    who looks after a child is for the child's staff, not for other families."""
    if user.role not in (Role.admin, Role.teacher):
        raise Forbidden("Only the school's admins and the child's teachers see the guardians")
    return await _staff_student(student_id, user)


async def _staff_student(student_id: str, user: User) -> User:
    student = await load_student(student_id)
    assert user.id is not None and student.id is not None
    allowed = (
        await teaches_student(user.id, student.id)
        if user.role == Role.teacher
        else can_manage_student(user, student)
    )
    if not allowed:
        raise Forbidden(
            "You are neither an admin of every school of this student nor their teacher"
        )
    return student


ViewableClass = Annotated[SchoolClass, Depends(viewable_class)]
RosterClass = Annotated[SchoolClass, Depends(roster_class)]
ManagedStudent = Annotated[User, Depends(managed_student)]
CodeStudent = Annotated[User, Depends(code_student)]
GuardiansStudent = Annotated[User, Depends(guardians_student)]


async def administered_school(admin: User, school_id: str) -> PydanticObjectId:
    """A live school the admin runs: 404 when there is none, 403 when it is not theirs."""
    school = await load_school(school_id)
    assert school.id is not None
    if not is_school_admin(admin, school.id):
        raise Forbidden(NOT_THEIR_SCHOOL)
    return school.id


async def listed_schools(
    admin: AdminUser,
    school_id: Annotated[
        str | None, Query(max_length=64, description="Only one of your schools")
    ] = None,
) -> list[PydanticObjectId]:
    """The schools whose people a user listing covers: the one asked for, which the admin
    must run, or all of theirs."""
    if school_id is None:
        return list(admin.school_ids)
    try:
        wanted = parse_object_id(school_id, what="School")
    except NotFound as exc:
        raise Unprocessable("school_id is not a valid id") from exc
    if not is_school_admin(admin, wanted):
        raise Forbidden(NOT_THEIR_SCHOOL)
    return [wanted]


ListedSchools = Annotated[list[PydanticObjectId], Depends(listed_schools)]
