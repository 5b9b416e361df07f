"""What a posted or corrected grade tells people: a job that loads the grade by id, works out
who hears (the student, and the parents following them who are still linked), words the
notice in every language, and publishes it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from datetime import datetime, timedelta

from beanie import PydanticObjectId

from app.auth import directory
from app.core import jobs
from app.core.config import get_settings
from app.core.i18n import DEFAULT_LOCALE, LOCALES, format_date, translate
from app.core.security import as_utc
from app.grades import alerts, topic
from app.grades.models import Grade
from app.notifications import revisions
from app.notifications import service as notifications
from app.notifications.fanout import publish, unique_recipients
from app.notifications.models import Notice, TargetType
from app.schools import guardians
from app.schools import service as schools_service
from app.subjects.service import note_subjects, subject_names

# The name predates the move to grades; jobs recorded under it must still find their body.
GRADE_EVENT_JOB = "notifications.grade_event"


def grade_event_key(grade: Grade) -> str:
    # A correction is a new event (new updated_at); the same write repeated is not.
    return f"grade:{grade.id}:{int(as_utc(grade.updated_at).timestamp() * 1000)}"


async def reserve_notice(grade: Grade, *, changed: bool) -> jobs.JobRecord:
    """Record the notice of a grade about to be saved, before it is: the caller saves the
    grade, then sends the notice (jobs.send). A crash in between delays it, never loses it."""
    return await jobs.reserve(
        GRADE_EVENT_JOB,
        grade_id=str(grade.id),
        event_key=grade_event_key(grade),
        changed=changed,
    )


def grade_words(
    locale: str,
    *,
    student: str,
    subject: str,
    value: object,
    kind: str,
    comment: str | None,
    changed: bool,
) -> tuple[str, str]:
    """The inbox title and body of a grade notice, in one language."""
    title = translate(
        locale,
        "inbox.grade_changed" if changed else "inbox.grade_new",
        student=student,
        subject=subject,
    )
    body = translate(
        locale,
        "inbox.grade_body",
        value=value,
        kind=translate(locale, f"grade_kind.{kind}"),
        subject=subject,
    )
    return title, body + (f" — {comment}" if comment else "")


async def grade_recipients(
    *, student_id: PydanticObjectId, teacher_id: PydanticObjectId | None
) -> list[PydanticObjectId]:
    """A grade posted or changed: the student and parents subscribed to that student who are
    still linked to them (checked now, not when they subscribed)."""
    subscriptions = await notifications.parent_followers(
        target_type=TargetType.student, target_ids=[student_id], topic=topic.NAME
    )
    linked = set(await guardians.parents_of([student_id]))
    parents = [s.subscriber_id for s in subscriptions if s.subscriber_id in linked]
    return unique_recipients([student_id, *parents], actor_id=teacher_id)


def _send_after(grade: Grade) -> datetime | None:
    """Grade emails wait the grace window from the teacher's last change, so one made
    inside it is the only one told."""
    minutes = get_settings().grade_notice_delay_minutes
    return as_utc(grade.updated_at) + timedelta(minutes=minutes) if minutes else None


async def grade_notice(grade: Grade, *, key: str, changed: bool) -> Notice:
    """The notice of a grade as it stands: new (`changed` False) or corrected."""
    names = await directory.full_names([grade.student_id, grade.teacher_id])
    school_name, class_name = await schools_service.school_and_class_names(
        grade.school_id, grade.class_id
    )
    student_name = names.get(grade.student_id, "—")
    await note_subjects(grade.school_id, [grade.subject])
    subjects = await subject_names(grade.school_id)
    subject_in = {locale: subjects.name(grade.subject, locale) for locale in LOCALES}
    texts = {
        locale: grade_words(
            locale,
            student=student_name,
            subject=subject_in[locale],
            value=grade.value,
            kind=grade.kind.value,
            comment=grade.comment,
            changed=changed,
        )
        for locale in LOCALES
    }
    return Notice(
        key=key,
        topic=topic.NAME,
        title=texts[DEFAULT_LOCALE][0],
        body=texts[DEFAULT_LOCALE][1],
        texts=texts,
        school_id=grade.school_id,
        actor_id=grade.teacher_id,
        source_id=grade.id,
        send_after=_send_after(grade),
        payload=topic.GradePayload(
            grade_id=str(grade.id),
            student_id=str(grade.student_id),
            student_name=student_name,
            subject=grade.subject,
            subject_names=subject_in,
            value=grade.value,
            kind=grade.kind.value,
            date=grade.date.date().isoformat(),
            teacher_name=names.get(grade.teacher_id),
            comment=grade.comment,
            school_name=school_name,
            class_name=class_name,
            changed=changed,
        ),
        recipients=await grade_recipients(student_id=grade.student_id, teacher_id=grade.teacher_id),
    )


async def _tell(grade: Grade, *, event_key: str, changed: bool) -> int:
    if not changed:
        return await publish(await grade_notice(grade, key=event_key, changed=False))
    # Whoever was not told yet hears of the grade as it now stands; whoever was, of the change.
    first = await grade_notice(grade, key=event_key, changed=False)
    correction = dataclasses.replace(
        await grade_notice(grade, key=event_key, changed=True), recipients=first.recipients
    )
    return await revisions.revise(first, correction)


@jobs.job(GRADE_EVENT_JOB)
async def notify_grade(*, grade_id: str, event_key: str, changed: bool = False) -> int:
    """Tell the student and the parents following them about a posted or changed grade."""
    grade = await Grade.get(PydanticObjectId(grade_id))
    if grade is None:
        return 0  # deleted before the job ran: its withdrawal job has the last word
    if grade_event_key(grade) != event_key:
        return 0  # changed again since: the job of that change tells the final value
    told = await _tell(grade, event_key=event_key, changed=changed)
    await alerts.evaluate(grade.student_id, school_id=grade.school_id)
    return told


GRADES_POSTED_JOB = "grades.notify_batch"


async def reserve_batch_notice(grades: list[Grade]) -> jobs.JobRecord:
    """One job record for a batch of new grades (written before them, as a single grade's)."""
    return await jobs.reserve(
        GRADES_POSTED_JOB, grades=[[str(g.id), grade_event_key(g)] for g in grades]
    )


@jobs.job(GRADES_POSTED_JOB)
async def notify_batch(*, grades: list[list[str]]) -> int:
    """Tell each grade of a batch as a single posted grade is told."""
    told = 0
    for grade_id, event_key in grades:
        told += await notify_grade(grade_id=grade_id, event_key=event_key)
    return told


GRADE_WITHDRAWN_JOB = "grades.withdraw"


async def reserve_withdrawal(grade: Grade) -> jobs.JobRecord:
    """Record the withdrawal of a grade about to be deleted, with what its notice says (the
    grade is gone when the job runs)."""
    return await jobs.reserve(
        GRADE_WITHDRAWN_JOB,
        grade_id=str(grade.id),
        student_id=str(grade.student_id),
        teacher_id=str(grade.teacher_id),
        school_id=str(grade.school_id),
        class_id=str(grade.class_id),
        subject=grade.subject,
        kind=grade.kind.value,
        date=grade.date.date().isoformat(),
    )


def withdrawal_words(locale: str, *, student: str, subject: str, date: str) -> tuple[str, str]:
    return (
        translate(locale, "inbox.grade_withdrawn", student=student, subject=subject),
        translate(
            locale,
            "inbox.grade_withdrawn_body",
            subject=subject,
            date=format_date(dt.date.fromisoformat(date), locale),
        ),
    )


@jobs.job(GRADE_WITHDRAWN_JOB)
async def withdraw_grade(
    *,
    grade_id: str,
    student_id: str,
    teacher_id: str,
    school_id: str,
    class_id: str,
    subject: str,
    kind: str,
    date: str,
) -> int:
    """Take a deleted grade's notices back: out of inboxes and digests, unsent email
    recalled, and a short "withdrawn" email to whoever had been told of it."""
    student, teacher = PydanticObjectId(student_id), PydanticObjectId(teacher_id)
    school = PydanticObjectId(school_id)
    names = await directory.full_names([student])
    student_name = names.get(student, "—")
    subjects = await subject_names(school)
    subject_in = {locale: subjects.name(subject, locale) for locale in LOCALES}
    texts = {
        locale: withdrawal_words(
            locale, student=student_name, subject=subject_in[locale], date=date
        )
        for locale in LOCALES
    }
    notice = Notice(
        key=f"grade:{grade_id}:withdrawn",
        topic=topic.NAME,
        title=texts[DEFAULT_LOCALE][0],
        body=texts[DEFAULT_LOCALE][1],
        texts=texts,
        school_id=school,
        actor_id=teacher,
        source_id=PydanticObjectId(grade_id),
        payload=topic.GradePayload(
            grade_id=grade_id,
            student_id=student_id,
            student_name=student_name,
            subject=subject,
            subject_names=subject_in,
            value=None,
            kind=kind,
            date=date,
            withdrawn=True,
        ),
    )
    told = await revisions.withdraw(notice)
    await alerts.evaluate(student, school_id=school)
    return told
