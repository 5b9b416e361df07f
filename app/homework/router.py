"""Homework: set by a class's teacher of the subject, read by the student's circle."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.auth.access import CurrentUser
from app.core.pagination import Page, PageParams, page_params
from app.homework import service
from app.homework.access import ChangeableHomework, HeldHomeworkDep, SettableClass
from app.homework.models import Homework
from app.homework.schemas import HomeworkOut
from app.schools.access import ReadableStudentSeats
from app.subjects.service import subject_names

router = APIRouter(tags=["homework"])


async def _named(homework: Homework, locale: str) -> HomeworkOut:
    names = await subject_names(homework.school_id)
    return HomeworkOut.of(homework, subject_name=names.name(homework.subject, locale))


@router.post("/homework", operation_id="createHomework", status_code=status.HTTP_201_CREATED)
async def set_homework(setting: SettableClass) -> HomeworkOut:
    """Set homework for a class (its teacher of that subject, or the school's admin); the
    class's students and the parents following them hear of it (a daily digest by default)."""
    homework = await service.set_homework(
        author=setting.author,
        school=setting.school,
        school_class=setting.school_class,
        data=setting.data,
    )
    return await _named(homework, setting.author.locale.value)


@router.patch("/homework/{homework_id}", operation_id="updateHomework")
async def change_homework(change: ChangeableHomework, user: CurrentUser) -> HomeworkOut:
    """Change homework (its author while teaching the class, or the school's admin)."""
    homework = await service.change_homework(
        homework=change.homework, school=change.school, data=change.changes
    )
    return await _named(homework, user.locale.value)


@router.delete(
    "/homework/{homework_id}", operation_id="deleteHomework", status_code=status.HTTP_204_NO_CONTENT
)
async def delete_homework(held: HeldHomeworkDep) -> Response:
    """Delete homework (its author while teaching the class, or the school's admin)."""
    await service.delete_homework(homework=held.homework)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/students/{student_id}/homework", operation_id="listHomework")
async def list_homework(
    reader: ReadableStudentSeats,
    user: CurrentUser,
    page: Annotated[PageParams, Depends(page_params)],
    date_from: Annotated[
        dt.date | None, Query(alias="from", description="First due day included (YYYY-MM-DD)")
    ] = None,
    date_to: Annotated[
        dt.date | None, Query(alias="to", description="Last due day included (YYYY-MM-DD)")
    ] = None,
) -> Page[HomeworkOut]:
    """The homework of the student's classes, soonest due first (the student, linked parents,
    their teachers, the admin)."""
    rows, cursor = await service.list_student_homework(
        class_ids=[seat.class_id for seat in reader.seats],
        locale=user.locale.value,
        page=page,
        date_from=date_from,
        date_to=date_to,
    )
    return Page[HomeworkOut](
        items=[HomeworkOut.of(h, subject_name=name) for h, name in rows], next_cursor=cursor
    )
