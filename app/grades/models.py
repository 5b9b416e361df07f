"""Grades."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import Field, model_validator

from app.core.security import utcnow
from app.subjects.models import subject_code


class GradeKind(StrEnum):
    regular = "regular"
    test = "test"
    term = "term"


DEFAULT_WEIGHTS = {GradeKind.regular: 1, GradeKind.test: 2, GradeKind.term: 3}


# Subjects are matched as the school's subject list matches them.
subject_key = subject_code


class Grade(Document):
    school_id: PydanticObjectId
    class_id: PydanticObjectId
    student_id: PydanticObjectId
    teacher_id: PydanticObjectId
    subject: str
    # subject_key(subject), filled in when a grade is made; missing only in the database on
    # grades written before it existed, until the start-up backfill has run.
    subject_key: str | None = None
    value: int
    kind: GradeKind = GradeKind.regular
    weight: float = 1
    comment: str | None = None
    # The day the grade is for, stored as midnight UTC so it sorts and filters as a date.
    date: datetime
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @model_validator(mode="after")
    def _key_the_subject(self) -> Grade:
        if self.subject_key is None:
            self.subject_key = subject_key(self.subject)
        return self

    class Settings:
        name = "grades"
        indexes = [
            # The list (newest first, by subject or dates) and the summary $match on student.
            pymongo.IndexModel(
                [("student_id", 1), ("date", -1), ("_id", -1)], name="student_newest"
            ),
            # A new name: an index's keys cannot change under the same name. A database
            # that has the old "student_subject_newest" (on `subject`) may drop it.
            pymongo.IndexModel(
                [("student_id", 1), ("subject_key", 1), ("date", -1), ("_id", -1)],
                name="student_subject_key_newest",
            ),
        ]
