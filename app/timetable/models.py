"""A class's weekly timetable and the changes made to it for one date."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field

from app.core.security import utcnow


class Lesson(BaseModel):
    """One lesson of the week: times are the school's wall-clock times, "HH:MM"."""

    weekday: int
    period: int
    starts: str
    ends: str
    # The subject's code (subjects.subject_code), shown by its name in the reader's language.
    subject: str
    teacher_id: PydanticObjectId
    room: str | None = None


class ClassTimetable(Document):
    """The week of one class, replaced whole by the admin: one document, so a reader never
    sees half of an old week and half of a new one."""

    id: PydanticObjectId  # always the class's id
    school_id: PydanticObjectId
    lessons: list[Lesson] = Field(default_factory=list)
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "timetables"
        indexes = [
            # A teacher's week: every class where they give a lesson.
            pymongo.IndexModel([("lessons.teacher_id", 1), ("_id", 1)], name="lesson_teacher"),
            pymongo.IndexModel([("school_id", 1), ("_id", 1)], name="school"),
        ]


class ChangeKind(StrEnum):
    cancelled = "cancelled"
    substitute = "substitute"
    room = "room"
    time = "time"


class TimetableChange(Document):
    """A change to one lesson on one date. Changes are only added: the newest of each kind
    for a lesson and date is the one that holds, so a room changed twice reads the last."""

    school_id: PydanticObjectId
    class_id: PydanticObjectId
    # The lesson's date, stored as midnight UTC so it sorts and filters as a date.
    date: datetime
    period: int
    kind: ChangeKind
    teacher_id: PydanticObjectId | None = None
    room: str | None = None
    starts: str | None = None
    ends: str | None = None
    created_by: PydanticObjectId | None = None
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "timetable_changes"
        indexes = [
            # A class's week, and a lesson's changes.
            pymongo.IndexModel(
                [("class_id", 1), ("date", 1), ("period", 1), ("_id", 1)], name="class_date"
            ),
            # The lessons a teacher stands in for.
            pymongo.IndexModel([("teacher_id", 1), ("date", 1), ("_id", 1)], name="substitute"),
        ]
