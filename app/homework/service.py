"""Homework rules and queries: due dates, subjects, the student's list (who may set or change
which homework is decided before, in homework.access)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from beanie import PydanticObjectId

from app.auth.models import User
from app.core import jobs
from app.core.errors import NotFound, Unprocessable
from app.core.pagination import PageParams
from app.core.security import utcnow
from app.core.timezones import stored_day, today_in
from app.homework import notices, repository
from app.homework.models import Homework
from app.homework.schemas import HomeworkCreate, HomeworkUpdate
from app.schools.models import School, SchoolClass
from app.subjects.service import SubjectNames, names_joined, note_subjects, subject_code

# Homework is set for the weeks ahead, not for the next school year.
MAX_DAYS_AHEAD = 366


def _due_day(school: School, day: dt.date) -> dt.datetime:
    """The stored due date: today at the school or later, within a year."""
    today = today_in(school.timezone)
    if day < today:
        raise Unprocessable(f"due {day.isoformat()} is in the past (today is {today})")
    if (day - today).days > MAX_DAYS_AHEAD:
        raise Unprocessable(f"due {day.isoformat()} is more than a year ahead")
    return stored_day(day)


async def set_homework(
    *, author: User, school: School, school_class: SchoolClass, data: HomeworkCreate
) -> Homework:
    """Set homework for a class the caller may set it for (homework.access decided that)."""
    assert school.id is not None and author.id is not None
    now = utcnow()
    code = subject_code(data.subject)
    homework = Homework(
        # Its id is known before the insert, so its notice can be recorded first.
        id=PydanticObjectId(),
        school_id=school.id,
        class_id=school_class.id,
        subject=code,
        author_id=author.id,
        due=_due_day(school, data.due),
        text=data.text,
        links=data.links,
        created_at=now,
        updated_at=now,
    )
    await note_subjects(school.id, [code])
    notice = await notices.reserve_notice(homework, changed=False)
    await repository.insert(homework)
    await jobs.send(notice)
    return homework


async def get_homework(homework_id: PydanticObjectId) -> Homework | None:
    """The homework with this id, if there is one."""
    return await repository.get(homework_id)


async def change_homework(*, homework: Homework, school: School, data: HomeworkUpdate) -> Homework:
    """Change homework the caller may change; its class hears of it again."""
    changes: dict[str, Any] = {}
    if data.due is not None:
        changes["due"] = _due_day(school, data.due)
    if data.text is not None:
        changes["text"] = data.text
    if data.links is not None:
        changes["links"] = data.links
    if not changes:
        return homework
    changes["updated_at"] = utcnow()
    notice = await notices.reserve_notice(homework.model_copy(update=changes), changed=True)
    updated = await repository.update(homework.id, changes)
    if updated is None:  # deleted between the read and the write; its notice finds nothing
        raise NotFound("Homework not found")
    await jobs.send(notice)
    return updated


async def delete_homework(*, homework: Homework) -> None:
    """Delete homework the caller may change."""
    await repository.delete(homework.id)


def due_range(date_from: dt.date | None, date_to: dt.date | None) -> dict[str, dt.datetime]:
    if date_from is not None and date_to is not None and date_from > date_to:
        raise Unprocessable("from is after to")
    due: dict[str, dt.datetime] = {}
    if date_from is not None:
        due["$gte"] = stored_day(date_from)
    if date_to is not None:
        due["$lte"] = stored_day(date_to)
    return due


async def list_student_homework(
    *,
    class_ids: Sequence[PydanticObjectId],
    locale: str,
    page: PageParams,
    date_from: dt.date | None,
    date_to: dt.date | None,
) -> tuple[list[tuple[Homework, str]], str | None]:
    """The homework of these classes (the ones the student sits in now), soonest due first,
    each with its subject named in `locale`: one round trip, the page and its schools'
    subject names in one aggregation."""
    due = due_range(date_from, date_to)
    if not class_ids:
        return [], None
    items, cursor, subjects = await repository.due_in_classes(
        class_ids,
        due,
        limit=page.limit,
        cursor=page.cursor,
        names_stage=names_joined(school_field="_id", into=repository.SUBJECTS_INTO),
    )
    names = {school_id: SubjectNames.of_rows(rows) for school_id, rows in subjects.items()}
    return [(h, names[h.school_id].name(h.subject, locale)) for h in items], cursor
