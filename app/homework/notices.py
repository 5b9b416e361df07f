"""What set or changed homework tells people: a job that loads the homework by id, works out
who hears (the class's students, and the parents following them who are still linked),
words the notice in every language, and publishes it."""

from __future__ import annotations

import datetime as dt

from beanie import PydanticObjectId

from app.auth import directory
from app.core import jobs
from app.core.i18n import DEFAULT_LOCALE, LOCALES, format_date, translate
from app.core.security import as_utc
from app.homework import topic
from app.homework.models import Homework
from app.notifications import service as notifications
from app.notifications.fanout import publish, unique_recipients
from app.notifications.models import Notice, TargetType
from app.schools import guardians
from app.schools import service as schools_service
from app.subjects.service import subject_names

NOTIFY_JOB = "homework.notify"


def homework_event_key(homework: Homework) -> str:
    # An edit is a new event (new updated_at); the same write repeated is not.
    return f"homework:{homework.id}:{int(as_utc(homework.updated_at).timestamp() * 1000)}"


async def reserve_notice(homework: Homework, *, changed: bool) -> jobs.JobRecord:
    """Record the notice of homework about to be saved, before it is: the caller saves it,
    then sends the notice (jobs.send). A crash in between delays it, never loses it."""
    return await jobs.reserve(
        NOTIFY_JOB,
        homework_id=str(homework.id),
        event_key=homework_event_key(homework),
        changed=changed,
    )


async def homework_recipients(
    student_ids: list[PydanticObjectId], *, author_id: PydanticObjectId
) -> list[PydanticObjectId]:
    """The class's students, and the parents following one of them for homework who are
    still linked to them (checked now, not when they subscribed)."""
    subscriptions = await notifications.parent_followers(
        target_type=TargetType.student, target_ids=student_ids, topic=topic.NAME
    )
    linked = set(await guardians.parents_of(student_ids))
    parents = [s.subscriber_id for s in subscriptions if s.subscriber_id in linked]
    return unique_recipients([*student_ids, *parents], actor_id=author_id)


def homework_words(
    locale: str, *, class_name: str, subject: str, due: dt.date, text: str, changed: bool
) -> tuple[str, str]:
    """The inbox title and body of a homework notice, in one language."""
    title = translate(
        locale,
        "homework.inbox_changed" if changed else "homework.inbox_new",
        class_name=class_name,
        subject=subject,
        due=format_date(due, locale),
    )
    return title, text


@jobs.job(NOTIFY_JOB)
async def notify_homework(*, homework_id: str, event_key: str, changed: bool = False) -> int:
    """Tell the class's students and the parents following them about set or changed homework."""
    homework = await Homework.get(PydanticObjectId(homework_id))
    if homework is None:
        return 0  # deleted before the job ran: nothing left to tell
    school = await schools_service.school_by_id(homework.school_id)
    school_class = school.find_class(homework.class_id) if school is not None else None
    if school is None or school.deleted_at is not None or school_class is None:
        return 0  # the class is gone: nobody left to tell
    names = await subject_names(homework.school_id)
    subject = {locale: names.name(homework.subject, locale) for locale in LOCALES}
    authors = await directory.full_names([homework.author_id])
    due = as_utc(homework.due).date()
    texts = {
        locale: homework_words(
            locale,
            class_name=school_class.name,
            subject=subject[locale],
            due=due,
            text=homework.text,
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
        school_id=homework.school_id,
        actor_id=homework.author_id,
        source_id=homework.id,
        payload=topic.HomeworkPayload(
            homework_id=str(homework.id),
            class_id=str(homework.class_id),
            class_name=school_class.name,
            school_name=school.name,
            subject=homework.subject,
            subject_name=subject,
            due=due.isoformat(),
            text=homework.text,
            links=homework.links,
            teacher_name=authors.get(homework.author_id),
            changed=changed,
        ),
        recipients=await homework_recipients(
            list(school_class.student_ids), author_id=homework.author_id
        ),
    )
    return await publish(notice)
