"""Request and response bodies for schools, classes, rosters, teachers and guardians."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from app.auth.schemas import Email
from app.core.db import ObjectIdField
from app.core.text import PLAIN_LINE
from app.core.timezones import TimeZoneName
from app.schools.models import School, SchoolClass

# Wide enough for 1..5, 1..10, 0..20 and percentage scales; anything else is a typo.
GRADE_SCALE_LOWEST = 0
GRADE_SCALE_HIGHEST = 100
MAX_SUBJECTS = 30


AudienceRole = Literal["student", "teacher", "parent"]


class ClassAudienceIn(BaseModel):
    """Whom a notice addresses in one school: some of its classes and some roles (none
    named: all). Announcements and events take it; the author's right to address it is
    checked by `schools.access.class_audience`."""

    model_config = ConfigDict(extra="forbid")

    school_id: ObjectIdField = Field(description="The school addressed")
    class_ids: list[ObjectIdField] = Field(
        default_factory=list,
        max_length=200,
        description="Only these classes (their students, teachers and parents); empty: all",
    )
    roles: list[AudienceRole] = Field(
        default_factory=list,
        max_length=3,
        description="Only these roles: parent, student, teacher; empty: all",
    )


Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), PLAIN_LINE
]
ClassName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50), PLAIN_LINE
]
Subject = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), PLAIN_LINE
]
TimeZone = TimeZoneName
Year = Annotated[int, Field(ge=0, le=3000)]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GradeScaleIn(RequestBody):
    min: Annotated[int, Field(ge=GRADE_SCALE_LOWEST, le=GRADE_SCALE_HIGHEST)] = Field(
        description="Lowest grade a teacher may give", examples=[1]
    )
    max: Annotated[int, Field(ge=GRADE_SCALE_LOWEST, le=GRADE_SCALE_HIGHEST)] = Field(
        description="Highest grade; above min", examples=[5]
    )

    @model_validator(mode="after")
    def _ordered(self) -> GradeScaleIn:
        if self.min >= self.max:
            raise ValueError("grade_scale.min must be lower than grade_scale.max")
        return self


def _refuse_nulls(data: Any, fields: tuple[str, ...]) -> Any:
    """PATCH bodies: leaving a field out keeps it; sending null for a required field is an error."""
    if isinstance(data, dict):
        nulled = [name for name in fields if name in data and data[name] is None]
        if nulled:
            raise ValueError(f"{', '.join(nulled)} may not be null")
    return data


class SchoolCreate(RequestBody):
    name: Name = Field(description="Up to 200 characters", examples=["School 12"])
    timezone: TimeZone = Field(
        default="UTC",
        description="IANA time zone: dates of grades and digest hours follow it",
        examples=["Europe/Moscow"],
    )
    grade_scale: GradeScaleIn | None = Field(default=None, description="1 to 5 when left out")


class SchoolUpdate(RequestBody):
    name: Name | None = Field(default=None, description="Left out: kept; never null")
    timezone: TimeZone | None = Field(default=None, description="IANA time zone; never null")
    grade_scale: GradeScaleIn | None = Field(default=None, description="Never null")

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        return _refuse_nulls(data, ("name", "timezone", "grade_scale"))


class ClassCreate(RequestBody):
    name: ClassName = Field(description="Unique in the school, e.g. 7V", examples=["7V"])
    year: Year | None = Field(default=None, description="School year (grade level), e.g. 7")


class ClassUpdate(RequestBody):
    """`year: null` clears the year; `name` can be changed but not cleared."""

    name: ClassName | None = Field(default=None, description="Left out: kept; never null")
    year: Year | None = Field(default=None, description="null clears it")

    @model_validator(mode="before")
    @classmethod
    def _no_null_name(cls, data: Any) -> Any:
        return _refuse_nulls(data, ("name",))


class TeacherSubjectsIn(RequestBody):
    subjects: Annotated[list[Subject], Field(min_length=1, max_length=MAX_SUBJECTS)] = Field(
        description="What this teacher teaches in the class (replaces the list)",
        examples=[["physics"]],
    )

    @model_validator(mode="after")
    def _deduplicate(self) -> TeacherSubjectsIn:
        # Order kept so the teacher's list reads back as it was typed.
        self.subjects = list(dict.fromkeys(self.subjects))
        return self


class GuardianCodeIssue(RequestBody):
    # As a new account's address: letters that only look Latin would mail the code to a
    # mailbox that passes for the parent's.
    email: Email | None = Field(
        default=None, description="Also mail the code to this address (the parent's)"
    )


class GuardianCodeRedeem(RequestBody):
    code: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The one-time guardian code the school gave the parent"
    )


class GradeScaleOut(BaseModel):
    min: int
    max: int


class TeacherAssignmentOut(BaseModel):
    teacher_id: str
    subjects: list[str]


class ClassOut(BaseModel):
    id: str
    name: str
    year: int | None
    student_ids: list[str]
    teachers: list[TeacherAssignmentOut]

    @classmethod
    def of(cls, school_class: SchoolClass) -> ClassOut:
        return cls(
            id=str(school_class.id),
            name=school_class.name,
            year=school_class.year,
            student_ids=[str(student_id) for student_id in school_class.student_ids],
            teachers=[
                TeacherAssignmentOut(teacher_id=str(a.teacher_id), subjects=list(a.subjects))
                for a in school_class.teachers
            ],
        )


class SchoolOut(BaseModel):
    id: str
    name: str
    timezone: str
    grade_scale: GradeScaleOut
    classes: list[ClassOut]
    created_at: datetime

    @classmethod
    def of(cls, school: School) -> SchoolOut:
        return cls(
            id=str(school.id),
            name=school.name,
            timezone=school.timezone,
            grade_scale=GradeScaleOut(min=school.grade_scale.min, max=school.grade_scale.max),
            classes=[ClassOut.of(c) for c in school.classes],
            created_at=school.created_at,
        )


class RosterStudentOut(BaseModel):
    id: str
    full_name: str
    email: str


class GuardianCodeOut(BaseModel):
    code: str
    expires_at: datetime


class ChildClassOut(BaseModel):
    school_id: str
    school_name: str
    class_id: str
    class_name: str


class ChildOut(BaseModel):
    id: str
    full_name: str
    email: str
    classes: list[ChildClassOut]


class GuardianOut(BaseModel):
    user_id: str
    full_name: str
    email: str
    linked_at: datetime
