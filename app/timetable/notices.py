"""What a change to a lesson tells people: a job that loads the change by id, works out who
hears (the class's students and their linked parents), words the notice in every language
with the subject's name in that language, and publishes it."""

from __future__ import annotations

import datetime as dt

from beanie import PydanticObjectId

from app.auth import directory
from app.core import jobs
from app.core.i18n import DEFAULT_LOCALE, LOCALES, format_date, translate, weekday_name
from app.core.security import as_utc
from app.notifications.fanout import publish, unique_recipients
from app.notifications.models import Notice
from app.schools import guardians
from app.schools import service as schools_service
from app.subjects.service import subject_names
from app.timetable import repository, topic
from app.timetable.models import Lesson, TimetableChange

NOTIFY_CHANGE_JOB = "timetable.notify_change"


async def reserve_notice(change: TimetableChange) -> jobs.JobRecord:
    """Record the notice of a change about to be saved, before it is: the caller saves the
    change, then sends the notice (jobs.send). A crash in between delays it, never loses it."""
    return await jobs.reserve(NOTIFY_CHANGE_JOB, change_id=str(change.id))


def day_words(day: str, locale: str) -> str:
    """ "Wednesday, 9 December 2026", in the reader's language."""
    date = dt.date.fromisoformat(day)
    return f"{weekday_name(date.isoweekday(), locale)}, {format_date(date, locale)}"


def change_words(locale: str, payload: topic.SchedulePayload) -> tuple[str, str]:
    """The inbox title and body of a change, in one language (the email says the same)."""
    words = {
        **payload.model_dump(),
        "subject": payload.subject_names.get(locale) or payload.subject,
        "day": day_words(payload.date, locale),
        "teacher": payload.teacher_name or "—",
        "was_teacher": payload.was_teacher_name or "—",
        "room": payload.room or "—",
        "was_room": payload.was_room or "—",
    }
    return (
        translate(locale, f"schedule.title.{payload.kind}", **words),
        translate(locale, f"schedule.body.{payload.kind}", **words),
    )


def _weekly_lesson(lessons: list[Lesson], day: dt.date, period: int) -> Lesson | None:
    weekday = day.isoweekday()
    return next((x for x in lessons if x.weekday == weekday and x.period == period), None)


@jobs.job(NOTIFY_CHANGE_JOB)
async def notify_change(*, change_id: str) -> int:
    """Tell a class's students and their parents about a change to one of its lessons."""
    change = await repository.get_change(PydanticObjectId(change_id))
    if change is None:
        return 0
    school = await schools_service.school_by_id(change.school_id)
    school_class = school.find_class(change.class_id) if school is not None else None
    timetable = await repository.get(change.class_id)
    day = as_utc(change.date).date()
    lesson = _weekly_lesson(timetable.lessons, day, change.period) if timetable else None
    if school is None or school.deleted_at is not None or school_class is None or lesson is None:
        return 0  # the school, the class or that lesson went since: nobody left to tell of it
    assert school.id is not None
    names = await subject_names(school.id)
    teacher_id = change.teacher_id or lesson.teacher_id
    people = await directory.full_names([lesson.teacher_id, teacher_id])
    payload = topic.SchedulePayload(
        change_id=str(change.id),
        class_id=str(school_class.id),
        class_name=school_class.name,
        school_name=school.name,
        date=day.isoformat(),
        period=change.period,
        kind=change.kind.value,
        subject=lesson.subject,
        subject_names={locale: names.name(lesson.subject, locale) for locale in LOCALES},
        starts=change.starts or lesson.starts,
        ends=change.ends or lesson.ends,
        was_starts=lesson.starts,
        was_ends=lesson.ends,
        room=change.room or lesson.room,
        was_room=lesson.room,
        teacher_name=people.get(teacher_id),
        was_teacher_name=people.get(lesson.teacher_id),
    )
    texts = {locale: change_words(locale, payload) for locale in LOCALES}
    payload.words = texts
    students = list(school_class.student_ids)
    notice = Notice(
        key=f"schedule:{change.id}",
        topic=topic.NAME,
        title=texts[DEFAULT_LOCALE][0],
        body=texts[DEFAULT_LOCALE][1],
        texts=texts,
        school_id=school.id,
        actor_id=change.created_by,
        source_id=change.id,
        payload=payload,
        recipients=unique_recipients(
            [*students, *await guardians.parents_of(students)], actor_id=change.created_by
        ),
    )
    return await publish(notice)
