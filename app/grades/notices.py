"""What a posted or corrected grade tells people: a job that loads the grade by id, works out
who hears (the student, and the parents following them who are still linked), words the
notice in every language, and publishes it."""

from __future__ import annotations

from beanie import PydanticObjectId

from app.auth import directory
from app.core import jobs
from app.core.i18n import DEFAULT_LOCALE, LOCALES, translate
from app.core.security import as_utc
from app.grades import topic
from app.grades.models import Grade
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


@jobs.job(GRADE_EVENT_JOB)
async def notify_grade(*, grade_id: str, event_key: str, changed: bool = False) -> int:
    """Tell the student and the parents following them about a posted or changed grade."""
    grade = await Grade.get(PydanticObjectId(grade_id))
    if grade is None:
        return 0  # deleted before the job ran: nothing left to tell
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
    notice = Notice(
        key=event_key,
        topic=topic.NAME,
        title=texts[DEFAULT_LOCALE][0],
        body=texts[DEFAULT_LOCALE][1],
        texts=texts,
        school_id=grade.school_id,
        actor_id=grade.teacher_id,
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
    return await publish(notice)
