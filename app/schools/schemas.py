"""Request and response bodies for schools, classes, rosters, teachers and guardians."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)

from app.core.timezones import TimeZoneName
from app.schools.models import School, SchoolClass

# Wide enough for 1..5, 1..10, 0..20 and percentage scales; anything else is a typo.
GRADE_SCALE_LOWEST = 0
GRADE_SCALE_HIGHEST = 100
MAX_SUBJECTS = 30


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ClassName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
TimeZone = TimeZoneName
Year = Annotated[int, Field(ge=0, le=3000)]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GradeScaleIn(RequestBody):
    min: Annotated[int, Field(ge=GRADE_SCALE_LOWEST, le=GRADE_SCALE_HIGHEST)]
    max: Annotated[int, Field(ge=GRADE_SCALE_LOWEST, le=GRADE_SCALE_HIGHEST)]

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
    name: Name
    timezone: TimeZone = "UTC"
    grade_scale: GradeScaleIn | None = None


class SchoolUpdate(RequestBody):
    name: Name | None = None
    timezone: TimeZone | None = None
    grade_scale: GradeScaleIn | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        return _refuse_nulls(data, ("name", "timezone", "grade_scale"))


class ClassCreate(RequestBody):
    name: ClassName
    year: Year | None = None


class ClassUpdate(RequestBody):
    """`year: null` clears the year; `name` can be changed but not cleared."""

    name: ClassName | None = None
    year: Year | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_null_name(cls, data: Any) -> Any:
        return _refuse_nulls(data, ("name",))


class TeacherSubjectsIn(RequestBody):
    subjects: Annotated[list[Subject], Field(min_length=1, max_length=MAX_SUBJECTS)]

    @model_validator(mode="after")
    def _deduplicate(self) -> TeacherSubjectsIn:
        # Order kept so the teacher's list reads back as it was typed.
        self.subjects = list(dict.fromkeys(self.subjects))
        return self


class GuardianCodeIssue(RequestBody):
    email: EmailStr | None = Field(
        default=None, description="Also mail the code to this address (the parent's)"
    )


class GuardianCodeRedeem(RequestBody):
    code: Annotated[str, StringConstraints(min_length=1, max_length=64)]


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
