"""Grade rules and queries: scale, roster and date checks, lists and summaries (who may
grade what is decided before, in grades.access).

Subjects are matched by their subject_key, case and spacing aside, everywhere (permission,
filters, summary groups), and a grade stores the spelling of the class's teacher assignment
when one matches, so "Math" typed by a teacher assigned "math" is filed under "math".
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from beanie import PydanticObjectId

from app.auth import directory
from app.auth.models import Role, User
from app.core import jobs
from app.core.errors import Conflict, NotFound, Unprocessable
from app.core.pagination import PageParams
from app.core.security import as_utc, utcnow
from app.core.timezones import zone_or_utc
from app.grades import notices, repository
from app.grades.models import DEFAULT_WEIGHTS, Grade, GradeKind, rounded, subject_key
from app.grades.schemas import (
    GradeCreate,
    GradeNames,
    GradeSummary,
    GradeUpdate,
    SubjectSummary,
)
from app.schools import service as schools_service
from app.schools.models import School, SchoolClass

# Old enough for any record a school still keeps about a current pupil.
MAX_PAST_DAYS = 366 * 10


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _school_today(school: School) -> dt.date:
    return dt.datetime.now(zone_or_utc(school.timezone)).date()


def grade_day(school: School, day: dt.date | None) -> dt.datetime:
    """The stored date of a grade: today at the school by default, never in its future."""
    today = _school_today(school)
    if day is None:
        return day_start(today)
    if day > today:
        raise Unprocessable(f"date {day.isoformat()} is in the future (today is {today})")
    if (today - day).days > MAX_PAST_DAYS:
        raise Unprocessable(f"date {day.isoformat()} is too far in the past")
    return day_start(day)


def _check_scale(school: School, value: int) -> None:
    scale = school.grade_scale
    if not scale.min <= value <= scale.max:
        raise Unprocessable(
            f"value {value} is outside this school's grade scale {scale.min}..{scale.max}"
        )


async def count_grades_outside(*, school_id: PydanticObjectId, low: int, high: int) -> int:
    """Grades of the school a new scale low..high would leave outside it."""
    return await repository.count_outside(school_id=school_id, low=low, high=high)


async def update_school(
    *,
    school: School,
    name: str | None = None,
    timezone: str | None = None,
    grade_scale: tuple[int, int] | None = None,
) -> School:
    """Rename a school or change its time zone or grade scale, refusing a scale that would
    leave some of its grades outside (they would break averages and could no longer be
    corrected). The flow lives here, above schools, because only this layer knows both."""
    if grade_scale is not None:
        low, high = grade_scale
        assert school.id is not None
        outside = await count_grades_outside(school_id=school.id, low=low, high=high)
        if outside:
            raise Conflict(
                f"{outside} existing grade(s) of this school fall outside {low}..{high}; "
                "correct or delete them before narrowing the scale"
            )
    return await schools_service.update_school(
        school=school, name=name, timezone=timezone, grade_scale=grade_scale
    )


def _same_subject(a: str, b: str) -> bool:
    return subject_key(a) == subject_key(b)


async def backfill_subject_keys() -> int:
    """Give grades written before subject_key existed their key (at start, idempotent).

    One update per distinct subject spelling, not per grade: a school has a few dozen.
    Computed here rather than in an update pipeline, because the server's $toLower is not
    casefold and it has no whitespace collapse."""
    updated = 0
    for spelling in await repository.spellings_without_subject_key():
        updated += await repository.set_subject_key(spelling, subject_key(spelling))
    return updated


def assigned_spelling(school_class: SchoolClass, subject: str) -> str | None:
    for assignment in school_class.teachers:
        for assigned in assignment.subjects:
            if _same_subject(assigned, subject):
                return assigned
    return None


async def _student_on_roster(school_class: SchoolClass, student_id: PydanticObjectId) -> None:
    if student_id not in school_class.student_ids:
        raise Unprocessable(f"student is not on the roster of class {school_class.name}")
    if await directory.live_role(student_id) != Role.student:
        raise Unprocessable("student does not exist or is no longer active")


def new_grade(
    *, teacher: User, school: School, school_class: SchoolClass, data: GradeCreate
) -> Grade:
    """The grade `data` asks for, not stored yet: filed under the class's spelling of the
    subject, weighted by its kind unless given, dated today at the school unless given."""
    assert school.id is not None and teacher.id is not None
    now = utcnow()
    return Grade(
        # Its id is known before the insert, so its notice can be recorded first.
        id=PydanticObjectId(),
        school_id=school.id,
        class_id=school_class.id,
        student_id=data.student_id,
        teacher_id=teacher.id,
        subject=assigned_spelling(school_class, data.subject) or data.subject,
        value=data.value,
        kind=data.kind,
        weight=data.weight if data.weight is not None else DEFAULT_WEIGHTS[data.kind],
        comment=data.comment,
        date=grade_day(school, data.date),
        created_at=now,
        updated_at=now,
    )


async def create_grade(
    *, teacher: User, school: School, school_class: SchoolClass, data: GradeCreate
) -> Grade:
    """Post a grade in a class the caller may grade (grades.access decided that)."""
    _check_scale(school, data.value)
    await _student_on_roster(school_class, data.student_id)
    grade = new_grade(teacher=teacher, school=school, school_class=school_class, data=data)
    notice = await notices.reserve_notice(grade, changed=False)
    await repository.insert(grade)
    await jobs.send(notice)
    return grade


async def get_grade(grade_id: PydanticObjectId) -> Grade | None:
    """The grade with this id, if there is one."""
    return await repository.get(grade_id)


async def update_grade(*, grade: Grade, school: School, data: GradeUpdate) -> Grade:
    """Correct a grade the caller may change (grades.access decided that)."""
    changes: dict[str, Any] = {}
    fields = data.model_fields_set
    if data.value is not None:
        _check_scale(school, data.value)
        changes["value"] = data.value
    if data.kind is not None:
        changes["kind"] = data.kind.value
    if data.weight is not None:
        changes["weight"] = data.weight
    elif data.kind is not None and grade.weight == DEFAULT_WEIGHTS[grade.kind]:
        # No stored flag says the weight was defaulted; one equal to the old kind's
        # default is treated as such and follows the new kind.
        changes["weight"] = DEFAULT_WEIGHTS[data.kind]
    if "comment" in fields:
        changes["comment"] = data.comment
    if data.date is not None:
        changes["date"] = grade_day(school, data.date)
    if not changes:
        return grade
    changes["updated_at"] = utcnow()
    notice = await notices.reserve_notice(
        grade.model_copy(update={"updated_at": changes["updated_at"]}), changed=True
    )
    updated = await repository.update(grade.id, changes)
    if updated is None:  # deleted between the read and the write; its notice finds nothing
        raise NotFound("Grade not found")
    await jobs.send(notice)
    return updated


async def delete_grade(*, grade: Grade) -> None:
    """Delete a grade the caller may change (grades.access decided that); whoever was told
    of it hears it was withdrawn."""
    withdrawal = await notices.reserve_withdrawal(grade)
    await repository.delete(grade.id)
    await jobs.send(withdrawal)


def _grade_filter(
    student_id: PydanticObjectId,
    *,
    subject: str | None,
    date_from: dt.date | None,
    date_to: dt.date | None,
    kind: GradeKind | None,
) -> dict[str, Any]:
    query: dict[str, Any] = {"student_id": student_id}
    if subject:
        query["subject_key"] = subject_key(subject)
    if kind is not None:
        query["kind"] = kind.value
    return {**query, **days_between(date_from, date_to, names=("date_from", "date_to"))}


def days_between(
    date_from: dt.date | None, date_to: dt.date | None, *, names: tuple[str, str]
) -> dict[str, Any]:
    """The condition on `date` of grades from `date_from` to `date_to` (both included, either
    open); 422 naming the parameters (`names`) when they are the wrong way round."""
    if date_from is not None and date_to is not None and date_from > date_to:
        raise Unprocessable(f"{names[0]} is after {names[1]}")
    dates: dict[str, dt.datetime] = {}
    if date_from is not None:
        dates["$gte"] = day_start(date_from)
    if date_to is not None:
        dates["$lte"] = day_start(date_to)
    return {"date": dates} if dates else {}


async def list_student_grades(
    *,
    student_id: PydanticObjectId,
    page: PageParams,
    subject: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    kind: GradeKind | None = None,
) -> tuple[list[Grade], str | None]:
    """A student's grades, newest first, one page at a time."""
    query = _grade_filter(
        student_id, subject=subject, date_from=date_from, date_to=date_to, kind=kind
    )
    return await repository.newest_first(query, limit=page.limit, cursor=page.cursor)


async def names_of(grades: list[Grade]) -> GradeNames:
    """The teachers' and classes' names of these grades: two lookups, side by side,
    whatever the number of grades."""
    if not grades:
        return GradeNames(teachers={}, classes={})
    teachers, classes = await asyncio.gather(
        directory.full_names(list({g.teacher_id for g in grades})),
        schools_service.class_names(list({g.class_id for g in grades})),
    )
    return GradeNames(teachers=teachers, classes=classes)


async def summarize_student_grades(
    *,
    student_id: PydanticObjectId,
    subject: str | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    kind: GradeKind | None = None,
) -> GradeSummary:
    """Per-subject count, averages and last grade, computed in one aggregation."""
    groups = await repository.subject_groups(
        _grade_filter(student_id, subject=subject, date_from=date_from, date_to=date_to, kind=kind)
    )
    subjects = [
        SubjectSummary(
            subject=group["subject"],
            count=group["count"],
            average=rounded(group["average"]),
            weighted_average=rounded(group["weighted_sum"] / group["weight_sum"]),
            last_value=group["last_value"],
            last_date=as_utc(group["last_date"]).date(),
        )
        for group in groups
    ]
    total_weight = sum(group["weight_sum"] for group in groups)
    overall = (
        rounded(sum(group["weighted_sum"] for group in groups) / total_weight)
        if total_weight
        else None
    )
    return GradeSummary(student_id=str(student_id), subjects=subjects, overall_average=overall)
