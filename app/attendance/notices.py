"""What a lesson's register tells parents: an absence at once (priority high, quiet hours
still apply), once per student, day and lesson; a mark taken back after they were told, one
short correction to exactly those told. A job reads the marks as they are when it runs, so
a register corrected before its job ran tells nobody of an absence that is gone."""

from __future__ import annotations

import datetime as dt

from beanie import PydanticObjectId

from app.attendance import repository, topic
from app.attendance.models import AttendanceMark, MarkStatus
from app.auth import directory
from app.core import jobs
from app.core.i18n import DEFAULT_LOCALE, LOCALES, format_date, translate
from app.core.security import as_utc
from app.core.timezones import stored_day
from app.notifications.fanout import publish
from app.notifications.models import Notice
from app.notifications.topics import Priority
from app.schools import guardians
from app.schools import service as schools_service

NOTIFY_JOB = "attendance.notify"
# What a correction of a told absence may turn into: the child was at school after all.
AT_SCHOOL = (MarkStatus.present, MarkStatus.late)


def _lesson_key(mark: AttendanceMark) -> str:
    day = as_utc(mark.date).date().isoformat()
    return f"{mark.student_id}:{day}:{mark.period if mark.period is not None else 'day'}"


def absence_key(mark: AttendanceMark) -> str:
    # Per student, day and lesson, never per write: marked absent again after a correction,
    # the same key finds everyone already told, and nobody hears of it twice.
    return f"absence:{_lesson_key(mark)}"


def correction_key(mark: AttendanceMark) -> str:
    return f"absence-corrected:{_lesson_key(mark)}"


def attendance_words(
    locale: str, *, student: str, class_name: str, day: dt.date, mark: AttendanceMark
) -> tuple[str, str]:
    """The inbox title and body of an absence notice or its correction, in one language."""
    date = format_date(day, locale)
    if mark.status == MarkStatus.absent:
        key = "attendance.absent_day" if mark.period is None else "attendance.absent_period"
        body = "attendance.absent_body"
    else:
        late = mark.status == MarkStatus.late
        key = "attendance.corrected_late" if late else "attendance.corrected_present"
        body = "attendance.corrected_body"
    title = translate(locale, key, student=student, date=date, period=mark.period)
    return title, translate(locale, body, class_name=class_name)


async def parents_by_child(
    student_ids: list[PydanticObjectId],
) -> dict[PydanticObjectId, list[PydanticObjectId]]:
    """Each of these students' linked parents, asked of the guardians service."""
    parents = await guardians.parents_of(student_ids)
    children = await guardians.children_of(parents)
    wanted = set(student_ids)
    found: dict[PydanticObjectId, list[PydanticObjectId]] = {}
    for parent_id, kids in children.items():
        for kid in kids & wanted:
            found.setdefault(kid, []).append(parent_id)
    return found


@jobs.job(NOTIFY_JOB)
async def notify_marks(
    *, class_id: str, date: str, period: int | None, student_ids: list[str]
) -> int:
    """Tell the parents of the students whose marks a register changed: of an absence, or
    of an absence they were told of that is taken back."""
    day = dt.date.fromisoformat(date)
    stored = stored_day(day)
    marks = await repository.marks_of_students(
        PydanticObjectId(class_id), stored, period, [PydanticObjectId(s) for s in student_ids]
    )
    absent = [m for m in marks if m.status == MarkStatus.absent]
    corrected = [m for m in marks if m.status in AT_SCHOOL and m.told_ids]
    if not absent and not corrected:
        return 0
    first = (absent or corrected)[0]
    school_name, class_name = await schools_service.school_and_class_names(
        first.school_id, first.class_id
    )
    names = await directory.full_names([m.student_id for m in absent + corrected])
    parents = await parents_by_child([m.student_id for m in absent])
    created = 0
    for mark in absent:
        told = parents.get(mark.student_id, [])
        if not told:
            continue
        # Written before they are told: a correction racing this job still finds them.
        await repository.add_told(mark.id, told)
        created += await publish(
            _notice(mark, absence_key(mark), told, names, school_name, class_name)
        )
    for mark in corrected:
        created += await publish(
            _notice(mark, correction_key(mark), mark.told_ids, names, school_name, class_name)
        )
    return created


def _notice(
    mark: AttendanceMark,
    key: str,
    recipients: list[PydanticObjectId],
    names: dict[PydanticObjectId, str],
    school_name: str | None,
    class_name: str | None,
) -> Notice:
    student = names.get(mark.student_id, "—")
    day = as_utc(mark.date).date()
    texts = {
        locale: attendance_words(
            locale, student=student, class_name=class_name or "", day=day, mark=mark
        )
        for locale in LOCALES
    }
    return Notice(
        key=key,
        topic=topic.NAME,
        title=texts[DEFAULT_LOCALE][0],
        body=texts[DEFAULT_LOCALE][1],
        texts=texts,
        priority=Priority.high,
        school_id=mark.school_id,
        actor_id=mark.marked_by,
        source_id=mark.id,
        payload=topic.AttendancePayload(
            student_id=str(mark.student_id),
            student_name=student,
            class_name=class_name,
            school_name=school_name,
            date=day.isoformat(),
            period=mark.period,
            status=mark.status.value,
            note=mark.note if mark.status == MarkStatus.absent else None,
            corrected=mark.status != MarkStatus.absent,
        ),
        recipients=list(recipients),
    )
