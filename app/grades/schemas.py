"""Request and response bodies for grades."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

from beanie import PydanticObjectId
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.core.db import ObjectIdField
from app.core.security import as_utc
from app.core.text import PLAIN_BODY, PLAIN_LINE
from app.grades.models import Grade, GradeKind

MAX_SUBJECT_LENGTH = 100
MAX_COMMENT_LENGTH = 1000
MAX_WEIGHT = 10
# Wide enough for any school's scale; the scale itself is checked by the service.
MAX_ABS_VALUE = 1_000_000


GradeValue = Annotated[int, Field(strict=True, ge=-MAX_ABS_VALUE, le=MAX_ABS_VALUE)]
GradeWeight = Annotated[float, Field(gt=0, le=MAX_WEIGHT, allow_inf_nan=False, examples=[1])]
Subject = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_SUBJECT_LENGTH),
    PLAIN_LINE,
    Field(examples=["math"]),
]
# Line breaks allowed: a comment may be a few sentences on lines of their own.
Comment = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=MAX_COMMENT_LENGTH), PLAIN_BODY
]


def _blank_to_none(value: str | None) -> str | None:
    return value or None


class GradeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    student_id: ObjectIdField = Field(description="The student graded, on the class's roster")
    class_id: ObjectIdField = Field(description="A class the teacher teaches this subject in")
    subject: Subject = Field(description="One of the teacher's subjects in that class")
    value: GradeValue = Field(
        description="Within the school's grade scale (1 to 5 unless the school set another)",
        examples=[5],
    )
    kind: GradeKind = Field(default=GradeKind.regular, description="regular, test or term")
    weight: GradeWeight | None = Field(
        default=None, description="Defaults by kind: regular 1, test 2, term 3"
    )
    comment: Comment | None = Field(
        default=None, description="Shown to the student and parents; up to 1000 characters"
    )
    date: dt.date | None = Field(
        default=None, description="The day the grade is for; defaults to today at the school"
    )

    _comment = field_validator("comment")(_blank_to_none)


# Fields a PATCH may change but never clear.
_REQUIRED_ON_PATCH = ("value", "kind", "weight", "date")


class GradeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: GradeValue | None = Field(
        default=None, description="Within the school's grade scale", examples=[4]
    )
    kind: GradeKind | None = Field(default=None, description="regular, test or term")
    weight: GradeWeight | None = Field(
        default=None,
        description=(
            "Left out while kind changes: a weight still at the old kind's default "
            "follows the new kind; any other weight is kept"
        ),
    )
    comment: Comment | None = Field(default=None, description="null or empty clears it")
    date: dt.date | None = Field(default=None, description="The day the grade is for")

    _comment = field_validator("comment")(_blank_to_none)

    @model_validator(mode="after")
    def _no_null_for_required(self) -> GradeUpdate:
        for name in _REQUIRED_ON_PATCH:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class GradeOut(BaseModel):
    id: str
    school_id: str
    class_id: str
    student_id: str
    teacher_id: str
    subject: str
    value: int
    kind: GradeKind
    weight: float
    comment: str | None
    date: dt.date
    created_at: dt.datetime
    updated_at: dt.datetime
    teacher_name: str | None = Field(
        default=None, description="Who gave it (in lists; kept after the teacher leaves)"
    )
    class_name: str | None = Field(default=None, description="The class it was given in")

    @classmethod
    def of(cls, grade: Grade, names: GradeNames | None = None) -> GradeOut:
        return cls(
            id=str(grade.id),
            school_id=str(grade.school_id),
            class_id=str(grade.class_id),
            student_id=str(grade.student_id),
            teacher_id=str(grade.teacher_id),
            subject=grade.subject,
            value=grade.value,
            kind=grade.kind,
            weight=grade.weight,
            comment=grade.comment,
            date=as_utc(grade.date).date(),
            created_at=as_utc(grade.created_at),
            updated_at=as_utc(grade.updated_at),
            teacher_name=names.teachers.get(grade.teacher_id) if names else None,
            class_name=names.classes.get(grade.class_id) if names else None,
        )


@dataclass(frozen=True)
class GradeNames:
    """The names a list of grades shows beside the ids: its teachers' and its classes'."""

    teachers: dict[PydanticObjectId, str]
    classes: dict[PydanticObjectId, str]


class SubjectSummary(BaseModel):
    subject: str
    count: int
    average: float
    weighted_average: float
    last_value: int
    last_date: dt.date


class GradeSummary(BaseModel):
    student_id: str
    subjects: list[SubjectSummary]
    overall_average: float | None = Field(
        description="Weighted average over every grade in the summary; null when there are none"
    )


# A class register's size, with room to spare: a batch longer than any class is a mistake.
MAX_BATCH_ROWS = 200


class BatchRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    student_id: ObjectIdField = Field(description="A student on the class's roster")
    value: GradeValue = Field(description="Within the school's grade scale", examples=[5])
    comment: Comment | None = Field(default=None, description="Up to 1000 characters")

    _comment = field_validator("comment")(_blank_to_none)


class GradeBatch(BaseModel):
    """One lesson's grades for a class: all are stored, or none."""

    model_config = ConfigDict(extra="forbid")

    class_id: ObjectIdField = Field(description="A class the teacher teaches this subject in")
    subject: Subject = Field(description="One of the teacher's subjects in that class")
    date: dt.date = Field(description="The lesson's day (YYYY-MM-DD)")
    kind: GradeKind = Field(default=GradeKind.regular, description="regular, test or term")
    weight: GradeWeight | None = Field(
        default=None, description="Defaults by kind: regular 1, test 2, term 3"
    )
    grades: list[BatchRow] = Field(
        min_length=1, max_length=MAX_BATCH_ROWS, description="One row per student graded"
    )


class GradeBatchOut(BaseModel):
    items: list[GradeOut]


class GradebookCell(BaseModel):
    id: str
    date: dt.date
    value: int
    kind: GradeKind
    weight: float


class GradebookStudent(BaseModel):
    student_id: str
    full_name: str
    grades: list[GradebookCell] = Field(description="Oldest first")
    weighted_average: float | None = Field(description="null when the student has no grade")


class Gradebook(BaseModel):
    subject: str
    dates: list[dt.date] = Field(description="Every day with a grade, oldest first")
    students: list[GradebookStudent] = Field(description="The class's roster, by name")


class AlertRules(BaseModel):
    """A parent's alert rules for one child; a rule left out (or null) is off."""

    model_config = ConfigDict(extra="forbid")

    grade_at_most: GradeValue | None = Field(
        default=None, description="Alert on a grade at or below this value", examples=[2]
    )
    average_below: float | None = Field(
        default=None,
        gt=0,
        le=MAX_ABS_VALUE,
        allow_inf_nan=False,
        description="Alert when a subject's weighted average falls below this",
        examples=[3.5],
    )
    subjects: list[Subject] = Field(
        default_factory=list,
        max_length=50,
        description="Subjects the rules watch (any case); empty: every subject",
    )


class AlertRulesOut(AlertRules):
    student_id: str
    holding: list[str] = Field(
        description='Rules holding now, as "<rule>:<subject>"; each fired when it began to hold'
    )
