"""Request and response bodies for attendance and absence notes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.attendance.models import AbsenceNote, AttendanceMark, MarkStatus, NoteStatus
from app.core.db import ObjectIdField
from app.core.security import as_utc
from app.core.text import PLAIN_BODY, PLAIN_LINE

MAX_PERIOD = 20
# A register is one class's roster: far fewer than this.
MAX_MARKS = 1000

Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), PLAIN_LINE]
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000), PLAIN_BODY
]


class MarkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    student_id: ObjectIdField = Field(description="A student on the class's roster")
    status: Literal["absent", "late", "excused"] = Field(description="absent, late or excused")
    note: Note | None = Field(default=None, description="Up to 500 characters")


class AttendanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: int | None = Field(
        default=None, ge=1, le=MAX_PERIOD, description="The lesson's period; none: the whole day"
    )
    marks: list[MarkIn] = Field(
        max_length=MAX_MARKS,
        description="Students absent, late or excused; every other student is present",
    )

    @model_validator(mode="after")
    def _each_student_once(self) -> AttendanceIn:
        seen: set[str] = set()
        for mark in self.marks:
            student = str(mark.student_id)
            if student in seen:
                raise ValueError(f"student {student} is listed twice")
            seen.add(student)
        return self


class MarkOut(BaseModel):
    student_id: str
    class_id: str
    date: dt.date
    period: int | None
    status: MarkStatus
    note: str | None

    @classmethod
    def of(cls, mark: AttendanceMark) -> MarkOut:
        return cls(
            student_id=str(mark.student_id),
            class_id=str(mark.class_id),
            date=as_utc(mark.date).date(),
            period=mark.period,
            status=mark.status,
            note=mark.note,
        )


class RegisterOut(BaseModel):
    """One lesson's register after a PUT: who is not plainly present."""

    class_id: str
    date: dt.date
    period: int | None
    marks: list[MarkOut] = Field(description="Absent, late or excused; every other is present")
    changed: int = Field(description="How many students' marks this request changed")


class Totals(BaseModel):
    absent: int = 0
    late: int = 0
    excused: int = 0


class StudentAttendance(BaseModel):
    student_id: str
    items: list[MarkOut] = Field(description="Newest first; lessons not listed were attended")
    totals: Totals


class AbsenceNoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: dt.date = Field(description="The day the child is or was away")
    reason: Reason = Field(description="Why, in a few words (up to 1000 characters)")


class AbsenceNoteDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["accepted", "declined"] = Field(
        description="accepted: the day is marked excused; declined: the marks stay"
    )


class AbsenceNoteOut(BaseModel):
    id: str
    student_id: str
    class_id: str
    parent_id: str
    date: dt.date
    reason: str
    status: NoteStatus
    decided_by: str | None
    decided_at: dt.datetime | None
    created_at: dt.datetime

    @classmethod
    def of(cls, note: AbsenceNote) -> AbsenceNoteOut:
        return cls(
            id=str(note.id),
            student_id=str(note.student_id),
            class_id=str(note.class_id),
            parent_id=str(note.parent_id),
            date=as_utc(note.date).date(),
            reason=note.reason,
            status=note.status,
            decided_by=str(note.decided_by) if note.decided_by else None,
            decided_at=as_utc(note.decided_at) if note.decided_at else None,
            created_at=as_utc(note.created_at),
        )
