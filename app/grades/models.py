"""Grades."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
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


def rounded(value: float) -> float:
    # Half up, as a school report rounds: 3.125 shows as 3.13, not 3.12.
    return float(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


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
            # A class's register in one subject, oldest first.
            pymongo.IndexModel(
                [("class_id", 1), ("subject_key", 1), ("date", 1), ("_id", 1)],
                name="class_subject_register",
            ),
            # A new grade scale is refused while grades of the school lie outside it.
            pymongo.IndexModel([("school_id", 1), ("value", 1)], name="school_value"),
        ]


class GradeAlert(Document):
    """One parent's alert rules for one child, and which of them hold now."""

    parent_id: PydanticObjectId
    student_id: PydanticObjectId
    grade_at_most: int | None = None
    average_below: float | None = None
    # Subject keys the rules watch; empty: every subject.
    subjects: list[str] = Field(default_factory=list)
    # "<rule>:<subject key>" for each rule holding at the last evaluation, sorted: an alert
    # fires for what is here now and was not then.
    holding: list[str] = Field(default_factory=list)
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "grade_alerts"
        indexes = [
            pymongo.IndexModel(
                [("parent_id", 1), ("student_id", 1)], unique=True, name="parent_child_unique"
            ),
            pymongo.IndexModel([("student_id", 1)], name="student"),
        ]
