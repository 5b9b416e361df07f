"""Grades: posted and corrected by teachers and admins, read by the student's circle."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.core.pagination import Page, PageParams, page_params
from app.grades import service
from app.grades.access import CorrectableGrade, EditableGrade, GradableClass
from app.grades.models import GradeKind
from app.grades.schemas import (
    MAX_SUBJECT_LENGTH,
    GradeOut,
    GradeSummary,
)
from app.schools.access import AdminSchool, ReadableStudent
from app.schools.schemas import SchoolOut, SchoolUpdate

router = APIRouter(tags=["grades"])

SubjectQuery = Annotated[
    str | None,
    Query(max_length=MAX_SUBJECT_LENGTH, description="Exact subject, case-insensitive"),
]
DateFromQuery = Annotated[dt.date | None, Query(description="First day included (YYYY-MM-DD)")]
DateToQuery = Annotated[dt.date | None, Query(description="Last day included (YYYY-MM-DD)")]


@router.post("/grades", status_code=status.HTTP_201_CREATED)
async def post_grade(grading: GradableClass) -> GradeOut:
    """Post a grade (the class's teacher of that subject, or the school's admin)."""
    grade = await service.create_grade(
        teacher=grading.teacher,
        school=grading.school,
        school_class=grading.school_class,
        data=grading.data,
    )
    return GradeOut.of(grade)


@router.patch("/grades/{grade_id}")
async def patch_grade(correction: CorrectableGrade) -> GradeOut:
    """Correct a grade (the grading teacher, or the school's admin)."""
    grade = await service.update_grade(
        grade=correction.grade, school=correction.school, data=correction.changes
    )
    return GradeOut.of(grade)


@router.delete("/grades/{grade_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_grade(held: EditableGrade) -> Response:
    """Delete a grade (the grading teacher, or the school's admin)."""
    await service.delete_grade(grade=held.grade)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/students/{student_id}/grades")
async def list_grades(
    student: ReadableStudent,
    page: Annotated[PageParams, Depends(page_params)],
    subject: SubjectQuery = None,
    date_from: DateFromQuery = None,
    date_to: DateToQuery = None,
    kind: Annotated[
        GradeKind | None, Query(description="Only regular, test or term grades")
    ] = None,
) -> Page[GradeOut]:
    """A student's grades, newest first (the student, linked parents, their teachers, admin)."""
    assert student.id is not None
    grades, cursor = await service.list_student_grades(
        student_id=student.id,
        page=page,
        subject=subject.strip() if subject else None,
        date_from=date_from,
        date_to=date_to,
        kind=kind,
    )
    names = await service.names_of(grades)
    return Page[GradeOut](items=[GradeOut.of(g, names) for g in grades], next_cursor=cursor)


@router.get("/students/{student_id}/grades/summary")
async def grade_summary(
    student: ReadableStudent,
    subject: SubjectQuery = None,
    date_from: DateFromQuery = None,
    date_to: DateToQuery = None,
    kind: Annotated[
        GradeKind | None, Query(description="Only regular, test or term grades")
    ] = None,
) -> GradeSummary:
    """Per-subject count, average, weighted average and last grade, plus the overall average."""
    assert student.id is not None
    return await service.summarize_student_grades(
        student_id=student.id,
        subject=subject.strip() if subject else None,
        date_from=date_from,
        date_to=date_to,
        kind=kind,
    )


# A school's own route, served here because changing its grade scale asks grades whether
# any would be stranded (schools, a layer below, cannot import grades).
@router.patch("/schools/{school_id}", tags=["schools"])
async def update_school(body: SchoolUpdate, school: AdminSchool) -> SchoolOut:
    """Change a school's name, time zone or grade scale."""
    updated = await service.update_school(
        school=school,
        name=body.name,
        timezone=body.timezone,
        grade_scale=(body.grade_scale.min, body.grade_scale.max) if body.grade_scale else None,
    )
    return SchoolOut.of(updated)
