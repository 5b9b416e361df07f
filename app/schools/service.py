"""Schools, their embedded classes, rosters and teacher assignments.

Every change to a class is one conditional update of the school document, so two admins
working at once cannot undo each other's changes (there are no transactions to lean on).
Most use the positional `$` with the class matched by `$elemMatch` in the filter. Where a
rule spans several classes (a class name is unique in its school, a student sits in one
class per school) the filter adds a negative condition on the whole array (`$ne`); a
negation never sets the position `$` refers to, so `$` still means the class matched by
`$elemMatch`. Replacing a teacher's subjects addresses the entry by index and checks the
index in the same filter (see `assign_teacher`). A conditional write that misses is read
again to tell "gone" (404) from "conflicts with a rule" (409) from "lost a race" (retry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from beanie import PydanticObjectId

from app.auth import directory
from app.auth import service as auth_service
from app.auth.models import Role, User
from app.core.db import parse_object_id
from app.core.errors import Conflict, NotFound
from app.core.pagination import PageParams, decode_cursor, encode_cursor, newest_first_page
from app.core.security import utcnow
from app.schools import repository
from app.schools.access import is_school_admin, load_school
from app.schools.models import GradeScale, School, SchoolClass

# A lost race against another admin's edit of the same school is retried this often.
UPDATE_ATTEMPTS = 5


def _live(school_id: PydanticObjectId | None) -> dict[str, Any]:
    return {"_id": school_id, "deleted_at": None}


def _class_match(class_id: PydanticObjectId, **conditions: Any) -> dict[str, Any]:
    return {"classes": {"$elemMatch": {"id": class_id, **conditions}}}


async def _reload(school_id: PydanticObjectId | None) -> School:
    return await load_school(school_id)


def _require_class(school: School, class_id: PydanticObjectId) -> SchoolClass:
    school_class = school.find_class(class_id)
    if school_class is None:
        raise NotFound("Class not found")
    return school_class


async def _member_to_add(*, user_id: str, admin: User, role: Role, what: str) -> User:
    """A live user of `role` who belongs to no school yet or to one that `admin` runs.

    Anyone else is reported as not found, whatever the reason (no such id, another role,
    another school): adding them would hand this admin access to people of a school they
    do not run, and a different answer per reason would tell who exists and in what role.
    """
    # A malformed id answers the same 404 ("<what> not found") from parse_object_id.
    user = await auth_service.get_live_user(parse_object_id(user_id, what=what))
    if (
        user is None
        or user.role != role
        or (user.school_ids and not any(is_school_admin(admin, s) for s in user.school_ids))
    ):
        raise NotFound(f"{what} not found")
    return user


# Schools


async def create_school(
    *, admin: User, name: str, timezone: str, grade_scale: tuple[int, int] | None
) -> School:
    """Create a school and make its creator an admin of it."""
    scale = GradeScale(min=grade_scale[0], max=grade_scale[1]) if grade_scale else GradeScale()
    school = School(name=name, timezone=timezone, grade_scale=scale)
    await school.insert()
    assert school.id is not None and admin.id is not None
    await auth_service.join_school(admin.id, school.id)
    admin.school_ids.append(school.id)
    return school


async def list_schools(*, admin: User, page: PageParams) -> tuple[list[School], str | None]:
    """The schools this admin runs, newest first."""
    query = {"_id": {"$in": admin.school_ids}, "deleted_at": None}
    return await newest_first_page(School, query, limit=page.limit, cursor=page.cursor)


async def update_school(
    *,
    school: School,
    name: str | None = None,
    timezone: str | None = None,
    grade_scale: tuple[int, int] | None = None,
) -> School:
    """Rename a school or change its time zone or grade scale. Whether a new scale would
    strand existing grades is the caller's question (grades.service.update_school asks it):
    this layer does not know grades."""
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name
    if timezone is not None:
        changes["timezone"] = timezone
    if grade_scale is not None:
        low, high = grade_scale
        changes["grade_scale"] = {"min": low, "max": high}
    if not changes:
        return school
    updated = await repository.update_and_read(_live(school.id), {"$set": changes})
    if updated is None:
        raise NotFound("School not found")
    return updated


async def delete_school(*, school: School) -> None:
    """Soft-delete a school: it disappears, its grades and people stay."""
    if not await repository.update(_live(school.id), {"$set": {"deleted_at": utcnow()}}):
        raise NotFound("School not found")


# Classes


async def create_class(*, school: School, name: str, year: int | None) -> SchoolClass:
    """Add a class; its name must be unique in the school."""
    school_class = SchoolClass(name=name, year=year)
    matched = await repository.update(
        {**_live(school.id), "classes.name": {"$ne": name}},
        {"$push": {"classes": school_class.model_dump()}},
    )
    if not matched:
        await _reload(school.id)
        raise Conflict(f"Class {name!r} already exists in this school")
    return school_class


async def list_classes(*, school: School, page: PageParams) -> tuple[list[SchoolClass], str | None]:
    """The school's classes, newest first (class ids are creation-ordered ObjectIds)."""
    classes = sorted(school.classes, key=lambda c: c.id, reverse=True)
    if page.cursor is not None:
        _, last_id = decode_cursor(page.cursor)
        classes = [c for c in classes if c.id < last_id]
    if len(classes) <= page.limit:
        return classes, None
    classes = classes[: page.limit]
    last = classes[-1].id
    return classes, encode_cursor(last.generation_time, last)


async def update_class(
    *, school: School, class_id: str, name: str | None, year: int | None, set_year: bool
) -> SchoolClass:
    """Rename a class (unique in the school) or change its year."""
    oid = parse_object_id(class_id, what="Class")
    for _ in range(UPDATE_ATTEMPTS):
        current = _require_class(school, oid)
        changes: dict[str, Any] = {}
        query = {**_live(school.id), **_class_match(oid)}
        renaming = name is not None and name != current.name
        if renaming:
            changes["classes.$.name"] = name
            query["classes.name"] = {"$ne": name}
        if set_year:
            changes["classes.$.year"] = year
        if not changes:
            return current
        updated = await repository.update_and_read(query, {"$set": changes})
        if updated is not None:
            return _require_class(updated, oid)
        school = await _reload(school.id)
        taken = any(c.name == name and c.id != oid for c in school.classes)
        if renaming and taken:
            raise Conflict(f"Class {name!r} already exists in this school")
    raise Conflict("The class changed while saving; try again")


async def delete_class(*, school: School, class_id: str) -> None:
    """Remove a class; grades given in it stay."""
    oid = parse_object_id(class_id, what="Class")
    seated = await repository.pull_class({**_live(school.id), **_class_match(oid)}, oid)
    if seated is None:
        raise NotFound("Class not found")
    # Its students are off a roster as if removed one by one: off the school's last one,
    # they leave the school, so its admins keep no hold on them and the next may enrol them.
    for student_id in seated:
        await _leave_when_unseated(school.id, student_id)


# Roster


async def add_student(*, admin: User, school: School, class_id: str, student_id: str) -> None:
    """Put a student on a class roster; a student sits in one class per school."""
    oid = parse_object_id(class_id, what="Class")
    student = await _member_to_add(
        user_id=student_id, admin=admin, role=Role.student, what="Student"
    )
    school_id = school.id
    assert student.id is not None and school_id is not None
    for _ in range(UPDATE_ATTEMPTS):
        matched = await repository.update(
            {**_live(school.id), **_class_match(oid), "classes.student_ids": {"$ne": student.id}},
            {"$addToSet": {"classes.$.student_ids": student.id}},
        )
        if matched:
            break
        school = await _reload(school.id)
        target = _require_class(school, oid)
        if student.id in target.student_ids:
            break
        other = next((c for c in school.classes if student.id in c.student_ids), None)
        if other is not None:
            raise Conflict(
                f"Student is already in class {other.name!r} of this school; "
                "remove them from it first"
            )
    else:
        raise Conflict("The class changed while saving; try again")
    # Also when already on the roster, so a retry repairs a write cut short here.
    await auth_service.join_school(student.id, school_id)


async def remove_student(*, school: School, class_id: str, student_id: str) -> None:
    """Take a student off a class roster (nothing to do if they are not on it)."""
    oid = parse_object_id(class_id, what="Class")
    student_oid = parse_object_id(student_id, what="Student")
    matched = await repository.update(
        {**_live(school.id), **_class_match(oid)},
        {"$pull": {"classes.$.student_ids": student_oid}},
    )
    if not matched:
        raise NotFound("Class not found")
    # Off the school's last roster, the student leaves the school: its admins keep no hold
    # on them, their grades elsewhere or their parents, and the next school may enrol them.
    # Also when they were not on this roster, so a retry repairs a write cut short here.
    await _leave_when_unseated(school.id, student_oid)


async def _leave_when_unseated(
    school_id: PydanticObjectId | None, student_id: PydanticObjectId
) -> None:
    """The student leaves the school when no roster of it holds them any more."""
    assert school_id is not None
    if not await repository.seats(school_id, student_id):
        await auth_service.leave_school(student_id, school_id)


async def list_roster(
    *, school_class: SchoolClass, page: PageParams
) -> tuple[list[User], str | None]:
    """Students on the roster, newest accounts first."""
    query = {"_id": {"$in": school_class.student_ids}, "deleted_at": None}
    return await newest_first_page(User, query, limit=page.limit, cursor=page.cursor)


# Teachers


async def assign_teacher(
    *, admin: User, school: School, class_id: str, teacher_id: str, subjects: list[str]
) -> None:
    """Assign a teacher to a class for `subjects`, replacing the subjects they had there.

    The teacher's entry is never removed and re-added, so there is no moment at which
    they are unassigned. A replacement sets the subjects at the entry's index and
    checks in the same filter that the index still holds this class and teacher (a
    positional path inside a nested array needs arrayFilters, which mongomock lacks).
    If another write moved the entry first, the filter misses and we read again.
    """
    oid = parse_object_id(class_id, what="Class")
    teacher = await _member_to_add(
        user_id=teacher_id, admin=admin, role=Role.teacher, what="Teacher"
    )
    school_id = school.id
    assert teacher.id is not None and school_id is not None
    for _ in range(UPDATE_ATTEMPTS):
        class_index = next((i for i, c in enumerate(school.classes) if c.id == oid), None)
        if class_index is None:
            raise NotFound("Class not found")
        entries = school.classes[class_index].teachers
        index = next((j for j, a in enumerate(entries) if a.teacher_id == teacher.id), None)
        if index is None:
            matched = await repository.update(
                {
                    **_live(school.id),
                    **_class_match(oid, **{"teachers.teacher_id": {"$ne": teacher.id}}),
                },
                {"$push": {"classes.$.teachers": {"teacher_id": teacher.id, "subjects": subjects}}},
            )
        else:
            entry = f"classes.{class_index}.teachers.{index}"
            matched = await repository.update(
                {
                    **_live(school.id),
                    f"classes.{class_index}.id": oid,
                    f"{entry}.teacher_id": teacher.id,
                },
                {"$set": {f"{entry}.subjects": subjects}},
            )
        if matched:
            break
        school = await _reload(school.id)
    else:
        raise Conflict("The class changed while saving; try again")
    await auth_service.join_school(teacher.id, school_id)


async def unassign_teacher(*, school: School, class_id: str, teacher_id: str) -> None:
    """Take a teacher off a class (nothing to do if they do not teach it)."""
    oid = parse_object_id(class_id, what="Class")
    teacher_oid = parse_object_id(teacher_id, what="Teacher")
    matched = await repository.update(
        {**_live(school.id), **_class_match(oid)},
        {"$pull": {"classes.$.teachers": {"teacher_id": teacher_oid}}},
    )
    if not matched:
        raise NotFound("Class not found")


@dataclass(frozen=True)
class Places:
    """The live schools some students belong to and the classes they sit in."""

    school_ids: frozenset[PydanticObjectId]
    class_ids: frozenset[PydanticObjectId]


async def places_of(student_ids: Sequence[PydanticObjectId]) -> Places:
    """Where these students (a parent's children: a short list) are, in two queries."""
    students = await directory.live_users(student_ids)
    wanted = set(student_ids)
    class_ids = {
        PydanticObjectId(c["id"])
        for c in await repository.class_rosters_of(student_ids)
        if wanted & set(c.get("student_ids", []))
    }
    return Places(
        school_ids=frozenset(sid for child in students for sid in child.school_ids),
        class_ids=frozenset(class_ids),
    )


async def class_ids_of_student(student_id: PydanticObjectId) -> list[PydanticObjectId]:
    """The classes of live schools the student sits in now, in one query."""
    return [
        PydanticObjectId(c["id"])
        for c in await repository.class_rosters_of([student_id])
        if student_id in c.get("student_ids", [])
    ]


async def school_and_class_names(
    school_id: PydanticObjectId, class_id: PydanticObjectId
) -> tuple[str | None, str | None]:
    """The names of a school and of one of its classes, deleted ones too (a notice about a
    grade names where it was given), reading only those."""
    return await repository.names_of(school_id, class_id)


async def class_names(class_ids: Sequence[PydanticObjectId]) -> dict[PydanticObjectId, str]:
    """The names of these classes (of deleted schools too: a grade names where it was
    given), in one round trip."""
    if not class_ids:
        return {}
    return await repository.class_names(list(dict.fromkeys(class_ids)))


async def school_by_id(school_id: PydanticObjectId) -> School | None:
    """A school by id, soft-deleted or not: the caller decides what a deleted one means."""
    return await repository.get(school_id)


async def live_schools(school_ids: Sequence[PydanticObjectId]) -> list[School]:
    """The live schools among these, in their order, in one round trip."""
    order = {school_id: n for n, school_id in enumerate(school_ids)}
    return sorted(await repository.live_of(school_ids), key=lambda s: order[s.id])  # type: ignore[index]


async def live_schools_and_user(
    school_ids: Sequence[PydanticObjectId], user_id: PydanticObjectId
) -> tuple[list[School], User | None]:
    """The live schools among these and the live user with this id (asked of auth's
    directory inside this domain's aggregation), in one round trip."""
    schools, found = await repository.live_schools_and_user(
        school_ids,
        user_id=user_id,
        user_stages=directory.user_stages("user_id", into=repository.USER_INTO),
    )
    return schools, directory.live_user_in(found)


async def figures_of(
    school_ids: Sequence[PydanticObjectId], branches: dict[str, list[dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """Figures over these schools in one round trip: each branch is stages that start from
    documents whose `_id` is a school id (the other domains' `*_stages` functions), and its
    rows come back under its name. Soft-deleted schools count too, as their people do."""
    return await repository.figures(school_ids, branches)
