"""The attendance collections' queries; attendance.service keeps the rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId

from app.attendance.models import MARKED, AbsenceNote, AttendanceMark, MarkStatus
from app.core import db
from app.core.security import utcnow


def _lesson(class_id: PydanticObjectId, day: datetime, period: int | None) -> dict[str, Any]:
    return {"class_id": class_id, "date": day, "period": period}


async def lesson_marks(
    class_id: PydanticObjectId, day: datetime, period: int | None
) -> list[AttendanceMark]:
    """Every stored mark of one lesson (present ones, taken back, included)."""
    return await AttendanceMark.find(_lesson(class_id, day, period)).to_list()


async def write_marks(
    *,
    school_id: PydanticObjectId,
    class_id: PydanticObjectId,
    day: datetime,
    period: int | None,
    marked_by: PydanticObjectId,
    marks: Sequence[tuple[PydanticObjectId, MarkStatus, str | None]],
) -> int:
    """Set each (student, status, note) of one lesson, inserting the rows not there yet, in
    one round trip; how many rows changed."""
    now = utcnow()
    return await db.update_each(
        AttendanceMark,
        [
            (
                {**_lesson(class_id, day, period), "student_id": student_id},
                {
                    "$set": {
                        "status": status.value,
                        "note": note,
                        "marked_by": marked_by,
                        "updated_at": now,
                    },
                    "$setOnInsert": {"school_id": school_id, "told_ids": []},
                },
            )
            for student_id, status, note in marks
        ],
        upsert=True,
    )


async def marks_of_students(
    class_id: PydanticObjectId,
    day: datetime,
    period: int | None,
    student_ids: Sequence[PydanticObjectId],
) -> list[AttendanceMark]:
    return await AttendanceMark.find(
        {**_lesson(class_id, day, period), "student_id": {"$in": list(student_ids)}}
    ).to_list()


async def add_told(
    mark_id: PydanticObjectId | None, parent_ids: Sequence[PydanticObjectId]
) -> None:
    await db.update_one(
        AttendanceMark, {"_id": mark_id}, {"$addToSet": {"told_ids": {"$each": list(parent_ids)}}}
    )


async def record_and_totals(match: dict[str, Any]) -> tuple[list[AttendanceMark], dict[str, int]]:
    """The marks matching `match` that are not plain presence, newest first, and how many of
    each status: one aggregation."""
    rows = await db.aggregate(
        AttendanceMark,
        [
            {"$match": {**match, "status": {"$in": [s.value for s in MARKED]}}},
            {
                "$facet": {
                    "items": [{"$sort": {"date": -1, "period": 1, "_id": -1}}],
                    "totals": [{"$group": {"_id": "$status", "count": {"$sum": 1}}}],
                }
            },
        ],
    )
    found = rows[0] if rows else {"items": [], "totals": []}
    items = [AttendanceMark.model_validate(row) for row in found["items"]]
    return items, {row["_id"]: int(row["count"]) for row in found["totals"]}


async def excuse_day(
    *, student_id: PydanticObjectId, day: datetime, by: PydanticObjectId, note: str
) -> int:
    """Every absence of the student on that day becomes excused; how many did."""
    written = await db.update_many(
        AttendanceMark,
        {"student_id": student_id, "date": day, "status": MarkStatus.absent.value},
        {"$set": {"status": MarkStatus.excused.value, "note": note, "marked_by": by}},
    )
    return written.modified


async def insert_note(note: AbsenceNote) -> None:
    await note.insert()


async def get_note(note_id: PydanticObjectId) -> AbsenceNote | None:
    return await AbsenceNote.get(note_id)


async def decide_note(
    note_id: PydanticObjectId | None, changes: dict[str, Any]
) -> AbsenceNote | None:
    """The pending note with `changes` set, in one atomic write; None when it was already
    decided (or is gone): of two racing decisions, one wins."""
    raw = await db.claim_one(AbsenceNote, {"_id": note_id, "status": "pending"}, {"$set": changes})
    return AbsenceNote.model_validate(raw) if raw is not None else None
