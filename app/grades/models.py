"""Grades."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import Field

from app.core.security import utcnow


class GradeKind(StrEnum):
    regular = "regular"
    test = "test"
    term = "term"


DEFAULT_WEIGHTS = {GradeKind.regular: 1, GradeKind.test: 2, GradeKind.term: 3}


class Grade(Document):
    school_id: PydanticObjectId
    class_id: PydanticObjectId
    student_id: PydanticObjectId
    teacher_id: PydanticObjectId
    subject: str
    value: int
    kind: GradeKind = GradeKind.regular
    weight: float = 1
    comment: str | None = None
    # The day the grade is for, stored as midnight UTC so it sorts and filters as a date.
    date: datetime
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "grades"
        indexes = [
            # The list (newest first, by subject or dates) and the summary $match on student.
            pymongo.IndexModel(
                [("student_id", 1), ("date", -1), ("_id", -1)], name="student_newest"
            ),
            pymongo.IndexModel(
                [("student_id", 1), ("subject", 1), ("date", -1), ("_id", -1)],
                name="student_subject_newest",
            ),
        ]
