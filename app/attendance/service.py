"""Attendance rules: a lesson's register (idempotent, correctable), a student's record with
totals, and absence notes (who may do which is decided before, in attendance.access)."""

from __future__ import annotations

import datetime as dt

from beanie import PydanticObjectId

from app.attendance import notices, repository
from app.attendance.models import AbsenceNote, MarkStatus, NoteStatus
from app.attendance.schemas import AttendanceIn, MarkOut, RegisterOut, StudentAttendance, Totals
from app.auth import directory
from app.auth.models import User
from app.core import jobs
from app.core.errors import Conflict, Unprocessable
from app.core.security import utcnow
from app.core.timezones import latest_today, stored_day, today_in
from app.schools.models import School, SchoolClass

# A register is kept for the school year and the one before; a note is sent ahead for at
# most a month (a planned trip), and no register is kept for a day still to come.
MAX_PAST_DAYS = 366
MAX_NOTE_DAYS_AHEAD = 31
# A student's record covers at most a year per request, so it is one term or two, not ten.
MAX_RANGE_DAYS = 366


def _register_day(school: School, day: dt.date) -> dt.datetime:
    today = today_in(school.timezone)
    if day > today:
        raise Unprocessable(f"date {day.isoformat()} is in the future (today is {today})")
    if (today - day).days > MAX_PAST_DAYS:
        raise Unprocessable(f"date {day.isoformat()} is too far in the past")
    return stored_day(day)


async def _on_roster(school_class: SchoolClass, student_ids: list[PydanticObjectId]) -> None:
    """Refuse a register naming anyone not in the class, by id and, when known, by name."""
    strangers = [s for s in student_ids if s not in set(school_class.student_ids)]
    if not strangers:
        return
    names = await directory.full_names(strangers)
    listed = ", ".join(f"{s} ({names[s]})" if s in names else str(s) for s in strangers)
    raise Unprocessable(f"not in class {school_class.name}: {listed}")


async def mark_register(
    *,
    teacher: User,
    school: School,
    school_class: SchoolClass,
    day: dt.date,
    data: AttendanceIn,
) -> RegisterOut:
    """Set one lesson's register: the students listed are absent, late or excused, every
    other one present. The same register twice changes nothing and tells nobody again."""
    assert school.id is not None and teacher.id is not None
    stored_day = _register_day(school, day)
    await _on_roster(school_class, [m.student_id for m in data.marks])
    before = {
        m.student_id: m
        for m in await repository.lesson_marks(school_class.id, stored_day, data.period)
    }
    wanted = {m.student_id: (MarkStatus(m.status), m.note or None) for m in data.marks}
    for student_id, mark in before.items():
        if student_id not in wanted and mark.status != MarkStatus.present:
            wanted[student_id] = (MarkStatus.present, None)
    changes = [
        (student_id, status, note)
        for student_id, (status, note) in wanted.items()
        if student_id not in before
        or (before[student_id].status, before[student_id].note) != (status, note)
    ]
    if changes:
        job = await jobs.reserve(
            notices.NOTIFY_JOB,
            class_id=str(school_class.id),
            date=day.isoformat(),
            period=data.period,
            student_ids=[str(student_id) for student_id, _, _ in changes],
        )
        await repository.write_marks(
            school_id=school.id,
            class_id=school_class.id,
            day=stored_day,
            period=data.period,
            marked_by=teacher.id,
            marks=changes,
        )
        await jobs.send(job)
    marks = [
        MarkOut(
            student_id=str(student_id),
            class_id=str(school_class.id),
            date=day,
            period=data.period,
            status=status,
            note=note,
        )
        for student_id, (status, note) in wanted.items()
        if status != MarkStatus.present
    ]
    return RegisterOut(
        class_id=str(school_class.id),
        date=day,
        period=data.period,
        marks=marks,
        changed=len(changes),
    )


def _range(date_from: dt.date | None, date_to: dt.date | None) -> tuple[dt.date, dt.date]:
    """The days a record covers: to defaults to today (the school's today, whatever its
    zone: no mark lies after it), from to a year before it."""
    end = date_to or latest_today()
    # Never before year 1: a `to` in its first days asks for those days only.
    start = date_from or end - dt.timedelta(days=min(MAX_RANGE_DAYS - 1, (end - dt.date.min).days))
    if start > end:
        raise Unprocessable("from is after to")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise Unprocessable(f"from and to may be at most {MAX_RANGE_DAYS} days apart")
    return start, end


async def student_attendance(
    *, student_id: PydanticObjectId, date_from: dt.date | None, date_to: dt.date | None
) -> StudentAttendance:
    """A student's absences, lateness and excused days in a range, newest first, with
    totals: one aggregation whatever the range."""
    start, end = _range(date_from, date_to)
    items, counts = await repository.record_and_totals(
        {"student_id": student_id, "date": {"$gte": stored_day(start), "$lte": stored_day(end)}}
    )
    return StudentAttendance(
        student_id=str(student_id),
        items=[MarkOut.of(m) for m in items],
        totals=Totals(**{status: counts.get(status, 0) for status in Totals.model_fields}),
    )


async def send_note(
    *,
    parent: User,
    student: User,
    school: School,
    school_class: SchoolClass,
    day: dt.date,
    reason: str,
) -> AbsenceNote:
    """A parent's absence note for their child's class, for the class's teacher to decide."""
    assert parent.id is not None and student.id is not None and school.id is not None
    today = today_in(school.timezone)
    if (day - today).days > MAX_NOTE_DAYS_AHEAD:
        raise Unprocessable(f"date {day.isoformat()} is more than a month ahead")
    if (today - day).days > MAX_PAST_DAYS:
        raise Unprocessable(f"date {day.isoformat()} is too far in the past")
    note = AbsenceNote(
        school_id=school.id,
        class_id=school_class.id,
        student_id=student.id,
        parent_id=parent.id,
        date=stored_day(day),
        reason=reason,
    )
    await repository.insert_note(note)
    return note


async def get_note(note_id: PydanticObjectId) -> AbsenceNote | None:
    """The absence note with this id, if there is one."""
    return await repository.get_note(note_id)


async def decide_note(*, note: AbsenceNote, teacher: User, status: NoteStatus) -> AbsenceNote:
    """Accept or decline a pending note; accepted, the child's absences that day become
    excused (a day not marked yet is marked excused for the whole day)."""
    assert teacher.id is not None
    decided = await repository.decide_note(
        note.id, {"status": status.value, "decided_by": teacher.id, "decided_at": utcnow()}
    )
    if decided is None:
        raise Conflict(f"this note was already {(await _current_status(note)).value}")
    if status == NoteStatus.accepted:
        excused = await repository.excuse_day(
            student_id=note.student_id, day=note.date, by=teacher.id, note=note.reason
        )
        if not excused:
            await repository.write_marks(
                school_id=note.school_id,
                class_id=note.class_id,
                day=note.date,
                period=None,
                marked_by=teacher.id,
                marks=[(note.student_id, MarkStatus.excused, note.reason[:500])],
            )
    return decided


async def _current_status(note: AbsenceNote) -> NoteStatus:
    current = await repository.get_note(note.id) if note.id else None
    return current.status if current is not None else note.status
