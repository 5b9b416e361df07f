"""Who may act on which school, class and student — written once, used by every router."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from beanie import PydanticObjectId
from fastapi import Depends, Query

from app.auth import directory
from app.auth import service as auth_service
from app.auth.access import AdminUser, CurrentUser
from app.auth.models import Role, User
from app.core.db import aggregate, collection, parse_object_id
from app.core.errors import Forbidden, NotFound, Unprocessable
from app.schools.models import GuardianLink, School, SchoolClass


def is_school_admin(user: User, school_id: PydanticObjectId) -> bool:
    return user.role == Role.admin and school_id in user.school_ids


async def load_school(school_id: str | PydanticObjectId | None) -> School:
    """A live school, or 404."""
    if school_id is None:
        raise NotFound("School not found")
    oid = (
        school_id
        if isinstance(school_id, PydanticObjectId)
        else parse_object_id(school_id, what="School")
    )
    school = await School.get(oid)
    if school is None or school.deleted_at is not None:
        raise NotFound("School not found")
    return school


def _one_class(class_id: PydanticObjectId) -> dict[str, Any]:
    # The school without the other classes and their rosters: only the one asked for.
    return {
        "name": 1,
        "timezone": 1,
        "grade_scale": 1,
        "deleted_at": 1,
        "created_at": 1,
        "classes": {"$elemMatch": {"id": class_id}},
    }


async def _school_with_one_class(
    query: dict[str, Any], class_id: PydanticObjectId
) -> School | None:
    """A School holding only that class (or none): read-only, never saved back."""
    raw = await collection(School).find_one(query, _one_class(class_id))
    return School.model_validate(raw) if raw is not None else None


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
    return (
        await GuardianLink.find_one({"parent_id": parent_id, "student_id": student_id}) is not None
    )


async def teaches_student(teacher_id: PydanticObjectId, student_id: PydanticObjectId) -> bool:
    # Only the id comes back: the answer is whether a class matches, not the school with
    # every roster in it.
    school = await collection(School).find_one(
        {
            "deleted_at": None,
            "classes": {
                "$elemMatch": {"student_ids": student_id, "teachers.teacher_id": teacher_id}
            },
        },
        {"_id": 1},
    )
    return school is not None


async def teaches_a_class_of(
    teacher_id: PydanticObjectId,
    school_id: PydanticObjectId,
    class_ids: Sequence[PydanticObjectId],
) -> bool:
    """Whether the teacher teaches one of these classes of this live school now."""
    if not class_ids:
        return False
    school = await collection(School).find_one(
        {
            "_id": school_id,
            "deleted_at": None,
            "classes": {
                "$elemMatch": {"id": {"$in": list(class_ids)}, "teachers.teacher_id": teacher_id}
            },
        },
        {"_id": 1},
    )
    return school is not None


async def can_read_student(user: User, student: User) -> bool:
    assert user.id is not None and student.id is not None
    if user.role == Role.student:
        return user.id == student.id
    if user.role == Role.parent:
        return await is_linked_guardian(user.id, student.id)
    if user.role == Role.teacher:
        return await teaches_student(user.id, student.id)
    return can_manage_student(user, student)


def _linked_joined(*, this_side: str, other_side: str, as_field: str) -> list[dict[str, Any]]:
    """Stages that add `as_field` to a user: the ids at the other end of their guardian
    links (a student's parents, or a parent's children)."""
    return [
        {
            "$lookup": {
                "from": GuardianLink.get_collection_name(),
                "localField": "_id",
                "foreignField": this_side,
                "as": "_links",
            }
        },
        {"$addFields": {as_field: f"$_links.{other_side}"}},
        {"$project": {"_links": 0}},
    ]


def _guardians_joined() -> list[dict[str, Any]]:
    """Stages that add `_guardian_ids` to a student: their parents."""
    return _linked_joined(this_side="student_id", other_side="parent_id", as_field="_guardian_ids")


def _teacher_joined(teacher_id: PydanticObjectId) -> list[dict[str, Any]]:
    """Stages that add `_taught`: how many live schools have a class with the student on its
    roster and this teacher among its teachers (only the count leaves the server)."""

    def has(value: Any, array: str) -> dict[str, Any]:
        return {"$in": [value, {"$ifNull": [array, []]}]}

    taught_class = {
        "$and": [has("$_id", "$$c.student_ids"), has(teacher_id, "$$c.teachers.teacher_id")]
    }
    live_school_teaching = {
        "$and": [
            {"$eq": [{"$ifNull": ["$$s.deleted_at", None]}, None]},
            {
                "$gt": [
                    {
                        "$size": {
                            "$filter": {
                                "input": {"$ifNull": ["$$s.classes", []]},
                                "as": "c",
                                "cond": taught_class,
                            }
                        }
                    },
                    0,
                ]
            },
        ]
    }
    return [
        {
            "$lookup": {
                "from": School.get_collection_name(),
                "localField": "_id",
                "foreignField": "classes.student_ids",
                "as": "_schools",
            }
        },
        {
            "$addFields": {
                "_taught": {
                    "$size": {
                        "$filter": {"input": "$_schools", "as": "s", "cond": live_school_teaching}
                    }
                }
            }
        },
        {"$project": {"_schools": 0}},
    ]


async def readable_student(student_id: str, user: CurrentUser) -> User:
    """The student in the path, if the caller is them, a linked parent, their teacher or admin.

    The student and the caller's relation to them come in one query: a parent's link or a
    teacher's class is joined to the student's record."""
    oid = parse_object_id(student_id, what="Student")
    assert user.id is not None
    if user.role == Role.parent:
        stages, joined = _guardians_joined(), ["_guardian_ids"]
    elif user.role == Role.teacher:
        stages, joined = _teacher_joined(user.id), ["_taught"]
    else:
        stages, joined = [], []
    found = await directory.live_user_joined(oid, role=Role.student, stages=stages, joined=joined)
    if found is None:
        raise NotFound("Student not found")
    student, relation = found
    assert student.id is not None
    if user.role == Role.parent:
        allowed = user.id in (relation["_guardian_ids"] or [])
    elif user.role == Role.teacher:
        allowed = bool(relation["_taught"])
    else:
        allowed = await can_read_student(user, student)  # no query for a student or an admin
    if not allowed:
        raise Forbidden("You may not see this student")
    return student


ReadableStudent = Annotated[User, Depends(readable_student)]


USER_NOT_FOUND = "User not found"
NOT_THEIR_SCHOOL = "You are not an admin of this school"


async def schools_of(user: User) -> set[PydanticObjectId]:
    """The schools a user belongs to; a parent belongs to the schools of their children
    (one query: the links, the children and their schools stay on the server)."""
    if user.role != Role.parent:
        return set(user.school_ids)
    rows = await aggregate(
        GuardianLink,
        [
            {"$match": {"parent_id": user.id}},
            *directory.live_user_records_stages("student_id"),
            {"$unwind": "$school_ids"},
            {"$group": {"_id": "$school_ids"}},
        ],
    )
    return {PydanticObjectId(row["_id"]) for row in rows}


async def _schools_of_children(student_ids: list[PydanticObjectId]) -> set[PydanticObjectId]:
    if not student_ids:
        return set()
    return await directory.live_school_ids(student_ids)


async def administers_user(admin: User, user: User) -> bool:
    """An admin acts on a user only when they administer every school of that user.

    One shared school is not enough: it would let the admin of a small school take over an
    admin, teacher or parent who also belongs to a school they do not run.
    """
    return _administers_all(admin, await schools_of(user))


def _administers_all(admin: User, schools: set[PydanticObjectId]) -> bool:
    return bool(schools) and all(is_school_admin(admin, school_id) for school_id in schools)


async def managed_user(user_id: str, admin: AdminUser) -> User:
    """The user in the path, if the caller administers every school of theirs.

    No such user, a deleted one and one out of reach answer alike, so the answer tells
    nothing about who exists.
    """
    # A malformed id answers the same 404: parse_object_id says "User not found" too.
    # A parent's children come with them (one query), so a parent costs one more, not two.
    found = await directory.live_user_joined(
        parse_object_id(user_id, what="User"), stages=_children_joined(), joined=["_children"]
    )
    if found is None:
        raise NotFound(USER_NOT_FOUND)
    user, joined = found
    if user.role == Role.parent:
        schools = await _schools_of_children(list(joined["_children"] or []))
    else:
        schools = set(user.school_ids)
    if not _administers_all(admin, schools):
        raise NotFound(USER_NOT_FOUND)
    return user


def _children_joined() -> list[dict[str, Any]]:
    """Stages that add `_children` to a parent: the students they are linked to."""
    return _linked_joined(this_side="parent_id", other_side="student_id", as_field="_children")


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
        link = await GuardianLink.find_one(
            {"parent_id": user.id, "student_id": {"$in": school_class.student_ids}}
        )
        return link is not None
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
