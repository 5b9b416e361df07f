"""Many people into a school at once (an import): classes created by name, students seated,
teachers assigned with subjects, in a few writes whatever the number of people.

Each write is conditional on the state it was computed from, and addresses a class by
its index, checked in the same filter (as service.assign_teacher does): classes are
pushed only while none of those names exists, students are
seated only while none of them sits in a class of the school, a teacher entry is pushed
only while the class has none for that teacher, subjects are added at an entry's index
only while that index still holds it. A write that misses lost a race (another admin, or
the same file imported at the same moment): the school is read again and only what is
still missing is written, so nothing is done twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from beanie import PydanticObjectId

from app.auth import service as auth_service
from app.core.errors import Conflict, NotFound
from app.schools import repository
from app.schools.models import School, SchoolClass

# As service.UPDATE_ATTEMPTS: a lost race is retried this often.
ENROL_ATTEMPTS = 5


@dataclass
class Enrolment:
    """What an import asks of one school, classes named as in the file."""

    class_names: list[str] = field(default_factory=list)
    # Class name -> students to seat there.
    seats: dict[str, list[PydanticObjectId]] = field(default_factory=dict)
    # Class name -> teacher -> subjects to teach there (added to those they have).
    teaching: dict[str, dict[PydanticObjectId, list[str]]] = field(default_factory=dict)
    # Everyone to record as belonging to the school (those seated or teaching, and others).
    members: list[PydanticObjectId] = field(default_factory=list)
    # The form two spellings of one subject share (the subjects domain's, handed down).
    subject_key: Callable[[str], str] = str


@dataclass(frozen=True)
class Enrolled:
    classes_created: int
    # Class name -> id, for every class the enrolment named.
    class_ids: dict[str, PydanticObjectId]


def _live(school_id: PydanticObjectId) -> dict[str, Any]:
    return {"_id": school_id, "deleted_at": None}


def class_by_name(school: School) -> dict[str, SchoolClass]:
    return {c.name: c for c in school.classes}


def seated_in(school: School) -> dict[PydanticObjectId, SchoolClass]:
    """Each student of the school, and the class they sit in."""
    return {s: c for c in school.classes for s in c.student_ids}


def _roster_and_teacher_writes(
    school: School, enrolment: Enrolment
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The conditional writes that would bring the school to the enrolment, from its
    state as read."""
    assert school.id is not None
    seated = seated_in(school)
    writes: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for index, school_class in enumerate(school.classes):
        wanted = enrolment.seats.get(school_class.name, [])
        # A student seated in another class meanwhile stays there: one class per school.
        new_students = [s for s in dict.fromkeys(wanted) if s not in seated]
        teaching = enrolment.teaching.get(school_class.name, {})
        assigned = {a.teacher_id: j for j, a in enumerate(school_class.teachers)}
        new_entries = [
            {"teacher_id": teacher_id, "subjects": list(dict.fromkeys(subjects))}
            for teacher_id, subjects in teaching.items()
            if teacher_id not in assigned
        ]
        if new_students or new_entries:
            # Addressed by index, the index checked in the same filter: no positional `$`
            # to be confused by the conditions on the other classes.
            at = f"classes.{index}"
            query: dict[str, Any] = {**_live(school.id), f"{at}.id": school_class.id}
            update: dict[str, Any] = {}
            if new_entries:
                new_teachers = [e["teacher_id"] for e in new_entries]
                query[f"{at}.teachers.teacher_id"] = {"$nin": new_teachers}
                update["$push"] = {f"{at}.teachers": {"$each": new_entries}}
            if new_students:
                query["classes.student_ids"] = {"$nin": new_students}
                # $push, not $addToSet: the filter already says none of them is there, and
                # mongomock cannot $addToSet at an index path.
                update.setdefault("$push", {})[f"{at}.student_ids"] = {"$each": new_students}
            writes.append((query, update))
        for teacher_id, subjects in teaching.items():
            entry_index = assigned.get(teacher_id)
            if entry_index is None:
                continue
            key = enrolment.subject_key
            has = {key(s) for s in school_class.teachers[entry_index].subjects}
            missing = [s for s in dict.fromkeys(subjects) if key(s) not in has]
            if not missing:
                continue
            entry = f"classes.{index}.teachers.{entry_index}"
            writes.append(
                (
                    {
                        **_live(school.id),
                        f"classes.{index}.id": school_class.id,
                        f"{entry}.teacher_id": teacher_id,
                        f"{entry}.subjects": {"$nin": missing},
                    },
                    {"$push": {f"{entry}.subjects": {"$each": missing}}},
                )
            )
    return writes


async def enrol(*, school_id: PydanticObjectId, enrolment: Enrolment) -> Enrolled:
    """Create the named classes that are missing, seat the students, assign the teachers,
    and record that they all belong to the school."""
    created = 0
    for _ in range(ENROL_ATTEMPTS):
        school = await repository.get(school_id)
        if school is None or school.deleted_at is not None:
            raise NotFound("School not found")
        names = class_by_name(school)
        missing = [n for n in dict.fromkeys(enrolment.class_names) if n not in names]
        if missing:
            new_classes = [SchoolClass(name=name) for name in missing]
            pushed = await repository.update(
                {**_live(school_id), "classes.name": {"$nin": missing}},
                {"$push": {"classes": {"$each": [c.model_dump() for c in new_classes]}}},
            )
            if pushed:
                created += len(new_classes)
            continue  # read again: rosters are written against the classes as stored
        writes = _roster_and_teacher_writes(school, enrolment)
        if writes and await repository.update_each(writes) < len(writes):
            continue
        await auth_service.join_school_many(enrolment.members, school_id)
        return Enrolled(
            classes_created=created,
            class_ids={n: c.id for n, c in names.items() if n in set(enrolment.class_names)},
        )
    raise Conflict("The school changed while importing; try again")
