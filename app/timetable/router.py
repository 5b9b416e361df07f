"""The timetable: a class's week set by its school's admin, changes for one date, and the
week a student or a teacher reads with the changes applied."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.auth.access import CurrentUser
from app.core.errors import NotFound
from app.schools.access import ReadableStudentSeats
from app.timetable import service
from app.timetable.access import ManagedClass, ReadableTeacher
from app.timetable.schemas import (
    ChangeIn,
    ChangeOut,
    LessonOut,
    TimetableIn,
    TimetableOut,
    Week,
)
from app.timetable.weeks import WEEK_FORM

router = APIRouter(tags=["timetable"])

WeekQuery = Annotated[
    str | None,
    Query(max_length=20, description=f"{WEEK_FORM}; this week at the school when left out"),
]


@router.put("/schools/{school_id}/classes/{class_id}/timetable", operation_id="replaceTimetable")
async def put_timetable(body: TimetableIn, managed: ManagedClass) -> TimetableOut:
    """Replace a class's weekly timetable (the school's admin)."""
    timetable = await service.set_week(
        school=managed.school, school_class=managed.school_class, lessons=body.lessons
    )
    return TimetableOut(
        class_id=str(timetable.id), lessons=[LessonOut.of(x) for x in timetable.lessons]
    )


@router.get("/schools/{school_id}/classes/{class_id}/timetable", operation_id="getTimetable")
async def get_timetable(managed: ManagedClass) -> TimetableOut:
    """A class's weekly timetable as set (the school's admin)."""
    timetable = await service.get_week(managed.school_class)
    if timetable is None:
        raise NotFound("This class has no timetable yet")
    return TimetableOut(
        class_id=str(timetable.id), lessons=[LessonOut.of(x) for x in timetable.lessons]
    )


@router.post(
    "/schools/{school_id}/classes/{class_id}/timetable/changes",
    operation_id="createTimetableChange",
    status_code=status.HTTP_201_CREATED,
)
async def post_change(body: ChangeIn, managed: ManagedClass, user: CurrentUser) -> ChangeOut:
    """Change one lesson on one date (the school's admin); within the next 7 days the class's
    students and their parents are told (topic `schedule`)."""
    change, notified = await service.add_change(
        admin=user, school=managed.school, school_class=managed.school_class, data=body
    )
    return ChangeOut(
        id=str(change.id),
        class_id=str(change.class_id),
        date=body.date,
        period=change.period,
        kind=change.kind,
        teacher_id=str(change.teacher_id) if change.teacher_id else None,
        room=change.room,
        starts=change.starts,
        ends=change.ends,
        notified=notified,
    )


@router.get("/students/{student_id}/timetable", operation_id="getStudentTimetable")
async def student_timetable(
    reader: ReadableStudentSeats, user: CurrentUser, week: WeekQuery = None
) -> Week:
    """A student's week with its changes (the student, linked parents, their teachers,
    admin); subjects named in the reader's language."""
    return await service.student_week(seats=reader.seats, week=week, locale=user.locale.value)


@router.get("/teachers/{teacher_id}/timetable", operation_id="getTeacherTimetable")
async def teacher_timetable(
    reader: ReadableTeacher, user: CurrentUser, week: WeekQuery = None
) -> Week:
    """A teacher's week over all their classes with its changes (the teacher, admin)."""
    return await service.teacher_week(
        teacher=reader.teacher, schools=reader.schools, week=week, locale=user.locale.value
    )
