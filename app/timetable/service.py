"""Timetable rules: which week a class may have, which change a lesson may take, and the week
a student or a teacher reads with the changes applied (who may do each is decided before,
in timetable.access)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from beanie import PydanticObjectId

from app.auth import directory
from app.auth.models import Role, User
from app.core import jobs
from app.core.errors import Unprocessable
from app.core.security import as_utc, utcnow
from app.schools import service as schools_service
from app.schools.models import School, SchoolClass
from app.schools.seats import Seat
from app.subjects.service import SubjectNames, names_joined, note_subjects, subject_code
from app.timetable import notices, repository, weeks
from app.timetable.models import ChangeKind, ClassTimetable, Lesson, TimetableChange
from app.timetable.schemas import ChangeIn, Day, DayLesson, LessonChange, LessonIn, Week

# A change is told to the class when its date is this close (today included).
NOTICE_DAYS = 7
# How far from today a change may be dated: a school year either side.
MAX_CHANGE_DAYS = 366


def _lesson_of(school_class: SchoolClass, lesson: LessonIn) -> Lesson:
    """The lesson as stored, once its teacher is found teaching that subject in the class."""
    where = f"weekday {lesson.weekday}, period {lesson.period}"
    if not school_class.has_teacher(lesson.teacher_id):
        raise Unprocessable(
            f"{where}: teacher {lesson.teacher_id} does not teach class {school_class.name}"
        )
    code = subject_code(lesson.subject)
    taught = {subject_code(s) for s in school_class.subjects_of(lesson.teacher_id)}
    if code not in taught:
        raise Unprocessable(
            f"{where}: teacher {lesson.teacher_id} does not teach {lesson.subject} "
            f"in class {school_class.name}"
        )
    return Lesson(
        weekday=lesson.weekday,
        period=lesson.period,
        starts=lesson.starts,
        ends=lesson.ends,
        subject=code,
        teacher_id=lesson.teacher_id,
        room=lesson.room,
    )


async def set_week(
    *, school: School, school_class: SchoolClass, lessons: Sequence[LessonIn]
) -> ClassTimetable:
    """Replace a class's weekly timetable."""
    assert school.id is not None
    stored = sorted(
        (_lesson_of(school_class, lesson) for lesson in lessons),
        key=lambda lesson: (lesson.weekday, lesson.period),
    )
    await note_subjects(school.id, {lesson.subject for lesson in stored})
    now = utcnow()
    await repository.replace_week(
        class_id=school_class.id, school_id=school.id, lessons=stored, now=now
    )
    return ClassTimetable(id=school_class.id, school_id=school.id, lessons=stored, updated_at=now)


async def get_week(school_class: SchoolClass) -> ClassTimetable | None:
    """A class's weekly timetable, if it has one."""
    return await repository.get(school_class.id)


def _weekly_lesson(timetable: ClassTimetable | None, day: dt.date, period: int) -> Lesson | None:
    if timetable is None:
        return None
    weekday = day.isoweekday()
    return next((x for x in timetable.lessons if x.weekday == weekday and x.period == period), None)


async def _check_substitute(school: School, lesson: Lesson, teacher_id: PydanticObjectId) -> None:
    if teacher_id == lesson.teacher_id:
        raise Unprocessable("the substitute is the lesson's own teacher")
    found = await directory.live_users([teacher_id])
    teacher = found[0] if found else None
    if teacher is None or teacher.role != Role.teacher or school.id not in teacher.school_ids:
        raise Unprocessable(f"teacher {teacher_id} is not a teacher of this school")


async def add_change(
    *, admin: User, school: School, school_class: SchoolClass, data: ChangeIn
) -> tuple[TimetableChange, bool]:
    """Change one lesson on one date; the change and whether the class is told of it."""
    assert school.id is not None
    today = weeks.today_in(school.timezone)
    if abs((data.date - today).days) > MAX_CHANGE_DAYS:
        raise Unprocessable(f"date {data.date} is more than a year from today ({today})")
    lesson = _weekly_lesson(await repository.get(school_class.id), data.date, data.period)
    if lesson is None:
        raise Unprocessable(
            f"class {school_class.name} has no lesson {data.period} on "
            f"{data.date:%A} {data.date.isoformat()}"
        )
    if data.kind == ChangeKind.substitute:
        assert data.teacher_id is not None
        await _check_substitute(school, lesson, data.teacher_id)
    change = TimetableChange(
        # Its id is known before the insert, so its notice can be recorded first.
        id=PydanticObjectId(),
        school_id=school.id,
        class_id=school_class.id,
        date=weeks.as_stored(data.date),
        period=data.period,
        kind=data.kind,
        teacher_id=data.teacher_id,
        room=data.room,
        starts=data.starts,
        ends=data.ends,
        created_by=admin.id,
    )
    tell = 0 <= (data.date - today).days <= NOTICE_DAYS
    notice = await notices.reserve_notice(change) if tell else None
    await repository.insert_change(change)
    if notice is not None:
        await jobs.send(notice)
    return change, tell


# --- the week as people read it ---------------------------------------------------------


def _newest_by_kind(changes: Iterable[TimetableChange]) -> list[TimetableChange]:
    """The change of each kind that holds (the newest), oldest kind first."""
    newest: dict[ChangeKind, TimetableChange] = {}
    for change in sorted(changes, key=lambda c: (as_utc(c.created_at), str(c.id))):
        newest.pop(change.kind, None)
        newest[change.kind] = change
    return list(newest.values())


def _as_read(
    lesson: Lesson,
    changes: list[TimetableChange],
    *,
    class_id: PydanticObjectId,
    class_name: str | None,
    names: SubjectNames | None,
    locale: str,
) -> DayLesson:
    shown = DayLesson(
        period=lesson.period,
        starts=lesson.starts,
        ends=lesson.ends,
        subject=lesson.subject,
        subject_name=names.name(lesson.subject, locale) if names else lesson.subject,
        class_id=str(class_id),
        class_name=class_name,
        teacher_id=str(lesson.teacher_id),
        room=lesson.room,
    )
    holding = _newest_by_kind(changes)
    if not holding:
        return shown
    for change in holding:
        if change.kind == ChangeKind.cancelled:
            shown.cancelled = True
        elif change.kind == ChangeKind.substitute:
            shown.teacher_id = str(change.teacher_id)
        elif change.kind == ChangeKind.room:
            shown.room = change.room
        else:
            shown.starts, shown.ends = change.starts or shown.starts, change.ends or shown.ends
    shown.change = LessonChange(
        kinds=[change.kind for change in holding],
        was={
            "starts": lesson.starts,
            "ends": lesson.ends,
            "teacher_id": str(lesson.teacher_id),
            "room": lesson.room,
        },
    )
    return shown


@dataclass(frozen=True)
class _Sources:
    rows: repository.WeekRows
    class_names: dict[PydanticObjectId, str]
    names: dict[PydanticObjectId, SubjectNames]


def _assemble(
    monday: dt.date,
    sources: _Sources,
    *,
    locale: str,
    keep: Callable[[DayLesson, Lesson], bool] = lambda shown, lesson: True,
) -> Week:
    changes: dict[tuple[PydanticObjectId, dt.date, int], list[TimetableChange]] = {}
    for change in sources.rows.changes:
        key = (change.class_id, as_utc(change.date).date(), change.period)
        changes.setdefault(key, []).append(change)
    days = []
    for day in weeks.days_of(monday):
        lessons = []
        for timetable in sources.rows.timetables:
            for lesson in timetable.lessons:
                if lesson.weekday != day.isoweekday():
                    continue
                shown = _as_read(
                    lesson,
                    changes.get((timetable.id, day, lesson.period), []),
                    class_id=timetable.id,
                    class_name=sources.class_names.get(timetable.id),
                    names=sources.names.get(timetable.school_id),
                    locale=locale,
                )
                if keep(shown, lesson):
                    lessons.append(shown)
        lessons.sort(key=lambda x: (x.starts, x.period, x.class_name or ""))
        days.append(Day(date=day, lessons=lessons))
    return Week(week=weeks.label(monday), days=days)


def _names_stage() -> list[dict[str, Any]]:
    """The subjects domain's stage, naming each school's subjects inside the week's
    aggregation."""
    return names_joined(school_field="_id", into=repository.SUBJECTS_INTO)


def _names_of(rows: repository.WeekRows) -> dict[PydanticObjectId, SubjectNames]:
    return {school_id: SubjectNames.of_rows(found) for school_id, found in rows.subjects.items()}


async def student_week(*, seats: Sequence[Seat], week: str | None, locale: str) -> Week:
    """A student's week, from the classes they sit in: one query for the timetables, the
    week's changes and their schools' subject names."""
    timezone = seats[0].school_timezone if seats else "UTC"
    monday = weeks.monday_of(week) if week is not None else weeks.this_monday(timezone)
    rows = await repository.week_of_classes(
        [seat.class_id for seat in seats],
        first=weeks.as_stored(monday),
        last=weeks.as_stored(monday + dt.timedelta(days=6)),
        names_stage=_names_stage(),
    )
    class_names = {seat.class_id: seat.class_name for seat in seats}
    return _assemble(monday, _Sources(rows, class_names, _names_of(rows)), locale=locale)


async def teacher_week(
    *, teacher: User, schools: list[School] | None, week: str | None, locale: str
) -> Week:
    """A teacher's week over all their classes: the lessons they give, or stand in for, with
    the changes applied (a lesson of theirs someone else covers shows, with that change).
    `schools` are the teacher's live schools when the caller's check read them already."""
    assert teacher.id is not None
    teacher_id = teacher.id
    school_ids = list(teacher.school_ids)

    def week_rows(monday: dt.date) -> Awaitable[repository.WeekRows]:
        return repository.week_of_teacher(
            teacher_id,
            school_ids,
            first=weeks.as_stored(monday),
            last=weeks.as_stored(monday + dt.timedelta(days=6)),
            names_stage=_names_stage(),
        )

    live_schools: list[School]
    if schools is None and week is not None:  # the schools and the week, neither waiting
        monday = weeks.monday_of(week)
        live_schools, rows = await asyncio.gather(
            schools_service.live_schools(school_ids), week_rows(monday)
        )
    else:  # the schools first (read by the caller's check, or here): "this week" is theirs
        live_schools = (
            schools if schools is not None else await schools_service.live_schools(school_ids)
        )
        timezone = live_schools[0].timezone if live_schools else "UTC"
        monday = weeks.monday_of(week) if week is not None else weeks.this_monday(timezone)
        rows = await week_rows(monday)
    # Classes of live schools only: a deleted class or school keeps no lessons.
    class_names = {c.id: c.name for s in live_schools for c in s.classes}
    live = repository.WeekRows(
        [t for t in rows.timetables if t.id in class_names], rows.changes, rows.subjects
    )

    def theirs(shown: DayLesson, lesson: Lesson) -> bool:
        return str(teacher_id) in (shown.teacher_id, str(lesson.teacher_id))

    return _assemble(
        monday, _Sources(live, class_names, _names_of(live)), locale=locale, keep=theirs
    )
