"""Attendance marks per lesson (or whole day), and parents' absence notes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import Field

from app.core.security import utcnow


class MarkStatus(StrEnum):
    # Stored only for a student once marked otherwise: a correction keeps the row (and who
    # was told of the absence), so a mark taken back is a row marked present.
    present = "present"
    absent = "absent"
    late = "late"
    excused = "excused"


# What a teacher may mark; everyone else on the roster is present.
MARKED = (MarkStatus.absent, MarkStatus.late, MarkStatus.excused)


class AttendanceMark(Document):
    school_id: PydanticObjectId
    class_id: PydanticObjectId
    student_id: PydanticObjectId
    # The lesson's day, stored as midnight UTC so it sorts and filters as a date.
    date: datetime
    # The lesson's period; None marks the whole day.
    period: int | None = None
    status: MarkStatus
    note: str | None = None
    marked_by: PydanticObjectId
    # The parents told of this absence, written before they are told: a correction to
    # present goes to exactly them.
    told_ids: list[PydanticObjectId] = Field(default_factory=list)
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "attendance_marks"
        indexes = [
            # One mark per student and lesson: a repeated or racing PUT finds the same row.
            pymongo.IndexModel(
                [("class_id", 1), ("date", 1), ("period", 1), ("student_id", 1)],
                unique=True,
                name="class_lesson_student_unique",
            ),
            # A student's record and totals over a date range.
            pymongo.IndexModel(
                [("student_id", 1), ("date", -1), ("_id", -1)], name="student_newest"
            ),
        ]


class NoteStatus(StrEnum):
    pending = "pending"
    accepted = "accepted"
    declined = "declined"


class AbsenceNote(Document):
    """A parent's word that their child was (or will be) away on a day, for the class's
    teacher to accept (the day is excused) or decline."""

    school_id: PydanticObjectId
    class_id: PydanticObjectId
    student_id: PydanticObjectId
    parent_id: PydanticObjectId
    date: datetime
    reason: str
    status: NoteStatus = NoteStatus.pending
    decided_by: PydanticObjectId | None = None
    decided_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "absence_notes"
        indexes = [
            pymongo.IndexModel(
                [("student_id", 1), ("date", -1), ("_id", -1)], name="student_newest"
            ),
        ]
