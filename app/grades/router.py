"""Grades: posted and corrected by teachers and admins, read by the student's circle."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.core.pagination import Page, PageParams, page_params
from app.grades import alerts, gradebook, service
from app.grades.access import (
    ClassGradebook,
    CorrectableGrade,
    EditableGrade,
    GradableBatch,
    GradableClass,
    LinkedChild,
)
from app.grades.models import GradeAlert, GradeKind
from app.grades.schemas import (
    MAX_SUBJECT_LENGTH,
    AlertRules,
    AlertRulesOut,
    GradeBatchOut,
    Gradebook,
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


@router.post("/grades", operation_id="createGrade", status_code=status.HTTP_201_CREATED)
async def post_grade(grading: GradableClass) -> GradeOut:
    """Post a grade (the class's teacher of that subject, or the school's admin)."""
    grade = await service.create_grade(
        teacher=grading.teacher,
        school=grading.school,
        school_class=grading.school_class,
        data=grading.data,
    )
    return GradeOut.of(grade)


@router.post("/grades/batch", operation_id="createGradeBatch", status_code=status.HTTP_201_CREATED)
async def post_grade_batch(grading: GradableBatch) -> GradeBatchOut:
    """Grade a class for one lesson, all or nothing: a row that cannot be stored refuses the
    batch (422 naming each such row). Each grade notifies as a single one does."""
    grades = await gradebook.create_grades(
        teacher=grading.teacher,
        school=grading.school,
        school_class=grading.school_class,
        batch=grading.data,
        students=grading.students,
    )
    return GradeBatchOut(items=[GradeOut.of(g) for g in grades])


@router.get("/schools/{school_id}/classes/{class_id}/gradebook", operation_id="getGradebook")
async def class_gradebook(
    graded: ClassGradebook,
    date_from: Annotated[
        dt.date | None, Query(alias="from", description="First day included (YYYY-MM-DD)")
    ] = None,
    date_to: Annotated[
        dt.date | None, Query(alias="to", description="Last day included (YYYY-MM-DD)")
    ] = None,
) -> Gradebook:
    """The class's grades in one subject as a register: students × dates, with each
    student's weighted average (the class's teacher of that subject, the school's admin)."""
    return await gradebook.class_gradebook(
        school=graded.school,
        school_class=graded.school_class,
        subject=graded.subject,
        date_from=date_from,
        date_to=date_to,
    )


@router.patch("/grades/{grade_id}", operation_id="updateGrade")
async def patch_grade(correction: CorrectableGrade) -> GradeOut:
    """Correct a grade (the grading teacher, or the school's admin)."""
    grade = await service.update_grade(
        grade=correction.grade, school=correction.school, data=correction.changes
    )
    return GradeOut.of(grade)


@router.delete(
    "/grades/{grade_id}", operation_id="deleteGrade", status_code=status.HTTP_204_NO_CONTENT
)
async def delete_grade(held: EditableGrade) -> Response:
    """Delete a grade (the grading teacher, or the school's admin)."""
    await service.delete_grade(grade=held.grade)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/students/{student_id}/grades", operation_id="listGrades")
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


@router.get("/students/{student_id}/grades/summary", operation_id="getGradeSummary")
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
@router.patch("/schools/{school_id}", operation_id="updateSchool", tags=["schools"])
async def update_school(body: SchoolUpdate, school: AdminSchool) -> SchoolOut:
    """Change a school's name, time zone or grade scale."""
    updated = await service.update_school(
        school=school,
        name=body.name,
        timezone=body.timezone,
        grade_scale=(body.grade_scale.min, body.grade_scale.max) if body.grade_scale else None,
    )
    return SchoolOut.of(updated)


def _rules_out(alert: GradeAlert) -> AlertRulesOut:
    return AlertRulesOut(
        student_id=str(alert.student_id),
        grade_at_most=alert.grade_at_most,
        average_below=alert.average_below,
        subjects=alert.subjects,
        holding=alert.holding,
    )


@router.get(
    "/users/me/children/{student_id}/alerts", operation_id="getGradeAlerts", tags=["guardians"]
)
async def get_alerts(linked: LinkedChild) -> AlertRulesOut:
    """The caller's grade alert rules for their child (none set: every rule off)."""
    return _rules_out(await alerts.alert_of(parent_id=linked.parent_id, student_id=linked.child_id))


@router.put(
    "/users/me/children/{student_id}/alerts", operation_id="replaceGradeAlerts", tags=["guardians"]
)
async def put_alerts(body: AlertRules, linked: LinkedChild) -> AlertRulesOut:
    """Set the grade alerts for the caller's child: an alert (topic grades, priority high)
    fires when a rule begins to hold, and again only after it stopped holding."""
    alert = await alerts.set_alert(
        parent_id=linked.parent_id,
        student_id=linked.child_id,
        grade_at_most=body.grade_at_most,
        average_below=body.average_below,
        subjects=body.subjects,
    )
    return _rules_out(alert)
