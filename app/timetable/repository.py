"""The timetable's queries (weekly timetables and their changes); timetable.service keeps
the rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId

from app.core import db
from app.timetable.models import ClassTimetable, Lesson, TimetableChange


async def replace_week(
    *,
    class_id: PydanticObjectId,
    school_id: PydanticObjectId,
    lessons: Sequence[Lesson],
    now: datetime,
) -> None:
    """Put this week in place of the class's, in one atomic write."""
    await db.update_one(
        ClassTimetable,
        {"_id": class_id},
        {
            "$set": {
                "school_id": school_id,
                "lessons": [lesson.model_dump() for lesson in lessons],
                "updated_at": now,
            }
        },
        upsert=True,
    )


async def get(class_id: PydanticObjectId) -> ClassTimetable | None:
    return await ClassTimetable.get(class_id)


async def insert_change(change: TimetableChange) -> None:
    await change.insert()


async def get_change(change_id: PydanticObjectId) -> TimetableChange | None:
    return await TimetableChange.get(change_id)


@dataclass(frozen=True)
class WeekRows:
    """The timetables a week is drawn from, the changes of that week to them, and the
    subjects of their schools as the subjects domain's stage reads them (school -> rows)."""

    timetables: list[ClassTimetable]
    changes: list[TimetableChange]
    subjects: dict[PydanticObjectId, list[dict[str, Any]]] = field(default_factory=dict)


# The branch that names the subjects: one school's list per school the timetables are of.
SUBJECTS_INTO = "subjects"


def _subjects_branch(names_stage: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"$group": {"_id": "$school_id"}}, *names_stage]


def _subjects_of(found: dict[str, list[dict[str, Any]]]) -> dict[PydanticObjectId, list[Any]]:
    return {row["_id"]: list(row.get(SUBJECTS_INTO) or []) for row in found["subjects"]}


def _dates(first: datetime, last: datetime) -> dict[str, datetime]:
    return {"$gte": first, "$lte": last}


def _rows(found: dict[str, list[dict[str, Any]]], *branches: str) -> list[dict[str, Any]]:
    # One timetable may come from two branches (a teacher's own class where they also stand in).
    unique = {row["_id"]: row for branch in branches for row in found.get(branch, [])}
    return list(unique.values())


async def week_of_classes(
    class_ids: Sequence[PydanticObjectId],
    *,
    first: datetime,
    last: datetime,
    names_stage: list[dict[str, Any]],
) -> WeekRows:
    """These classes' timetables, their changes dated first..last and their schools'
    subjects (`names_stage`, the subjects domain's, into SUBJECTS_INTO), in one round trip."""
    if not class_ids:
        return WeekRows([], [])
    found = await _week(
        {"_id": {"$in": list(class_ids)}},
        {
            "timetables": [{"$match": {}}],
            "changes": db.joined(
                TimetableChange,
                local_field="_id",
                foreign_field="class_id",
                match={"date": _dates(first, last)},
            ),
            "subjects": _subjects_branch(names_stage),
        },
    )
    return WeekRows(
        [ClassTimetable.model_validate(row) for row in found["timetables"]],
        [TimetableChange.model_validate(row) for row in found["changes"]],
        _subjects_of(found),
    )


async def week_of_teacher(
    teacher_id: PydanticObjectId,
    school_ids: Sequence[PydanticObjectId],
    *,
    first: datetime,
    last: datetime,
    names_stage: list[dict[str, Any]],
) -> WeekRows:
    """In one round trip: the timetables of these schools' classes where the teacher gives a
    lesson or stands in for one dated first..last, those schools' changes of those days
    (the service keeps the ones of the teacher's classes) and their subjects (as in
    `week_of_classes`)."""
    if not school_ids:
        return WeekRows([], [])
    in_week = {"date": _dates(first, last)}
    found = await _week(
        {"school_id": {"$in": list(school_ids)}},
        {
            "own": [{"$match": {"lessons.teacher_id": teacher_id}}],
            "covered": db.having_joined(
                TimetableChange,
                local_field="_id",
                foreign_field="class_id",
                match={"teacher_id": teacher_id, **in_week},
            ),
            "changes": db.joined(
                TimetableChange, local_field="_id", foreign_field="class_id", match=in_week
            ),
            "subjects": _subjects_branch(names_stage),
        },
    )
    return WeekRows(
        [ClassTimetable.model_validate(row) for row in _rows(found, "own", "covered")],
        [TimetableChange.model_validate(row) for row in found["changes"]],
        _subjects_of(found),
    )


async def _week(
    match: dict[str, Any], branches: dict[str, list[dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    rows = await db.aggregate(ClassTimetable, [{"$match": match}, {"$facet": branches}])
    found = rows[0] if rows else {}
    return {name: list(found.get(name, [])) for name in branches}


async def insert_demo(timetables: list[ClassTimetable], changes: list[TimetableChange]) -> None:
    await ClassTimetable.insert_many(timetables)
    await TimetableChange.insert_many(changes)


async def delete_of_schools(school_ids: Sequence[PydanticObjectId]) -> None:
    """Every timetable and change of these schools."""
    await ClassTimetable.find({"school_id": {"$in": list(school_ids)}}).delete()
    await TimetableChange.find({"school_id": {"$in": list(school_ids)}}).delete()
