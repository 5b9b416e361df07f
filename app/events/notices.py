"""What events tell people, through notifications.publish(): the invitation to the audience,
a change of time or place and a cancellation to those who said yes or maybe (priority high),
the promotion of someone from the waitlist, and the reminders 24 h and 1 h before the start.

Every notice has a deterministic key (per event, kind and, for changes and reminders, the
version or start it is about), and the engine keeps one notification and one email per key
and person: a job run twice, or again after its worker died, tells nobody twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from beanie import PydanticObjectId

from app.auth import directory
from app.core import jobs
from app.core.i18n import DEFAULT_LOCALE, LOCALES, format_datetime, translate
from app.core.security import as_utc, utcnow
from app.delivery.models import Attachment
from app.events import ics, repository, topic
from app.events.audience import audience_ids
from app.events.models import Answer, Event, EventStatus, Reminder
from app.events.topic import EventPayload, NoticeKind
from app.notifications.fanout import publish
from app.notifications.models import Notice
from app.notifications.topics import Priority
from app.schools import service as schools
from app.schools.models import School

NOTIFY_JOB = "events.notify"
REMIND_JOB = "events.remind_due"
REMINDERS: tuple[tuple[Reminder, timedelta], ...] = (
    (Reminder.day, timedelta(hours=24)),
    (Reminder.hour, timedelta(hours=1)),
)
# A reminder run that has not finished in this long is assumed lost (its worker died): the
# event comes due again and the run is repeated; the notices' keys keep it from repeating
# anyone's reminder.
REMINDER_LEASE = timedelta(minutes=10)


def reminder_plan(
    starts_at: datetime, *, sent: Sequence[Reminder], now: datetime
) -> tuple[list[Reminder], datetime | None]:
    """The reminders to count as done (sent, or past before they could be) and when the
    next one is due; an event created 3 hours ahead has no 24-hour reminder to send."""
    done = list(sent)
    upcoming: list[datetime] = []
    for reminder, before in REMINDERS:
        if reminder in done:
            continue
        at = as_utc(starts_at) - before
        if at <= now:
            done.append(reminder)
        else:
            upcoming.append(at)
    return done, min(upcoming, default=None)


def answerable(event: Event, now: datetime) -> bool:
    deadline = event.rsvp_deadline
    return (
        event.status == EventStatus.scheduled
        and as_utc(event.starts_at) > now
        and (deadline is None or as_utc(deadline) > now)
    )


def _texts(
    event: Event, school: School, kind: NoticeKind, reminder: Reminder | None
) -> dict[str, tuple[str, str]]:
    texts: dict[str, tuple[str, str]] = {}
    name = f"event.notice.{kind.value}" + (f".{reminder.value}" if reminder else "")
    for locale in LOCALES:
        when = format_datetime(as_utc(event.starts_at), locale, school.timezone)
        body_key = "event.notice.body_place" if event.place else "event.notice.body"
        texts[locale] = (
            translate(locale, name, title=event.title),
            translate(locale, body_key, when=when, place=event.place),
        )
    return texts


async def _tell(
    event: Event,
    *,
    kind: NoticeKind,
    key: str,
    recipients: list[PydanticObjectId],
    priority: Priority = Priority.normal,
    reminder: Reminder | None = None,
    now: datetime | None = None,
) -> int:
    school = await schools.school_by_id(event.school_id)
    if school is None or school.deleted_at is not None or not recipients:
        return 0
    assert event.id is not None
    author_name = (await directory.full_names([event.author_id])).get(event.author_id)
    texts = _texts(event, school, kind, reminder)
    notice = Notice(
        key=key,
        topic=topic.NAME,
        title=texts[DEFAULT_LOCALE][0],
        body=texts[DEFAULT_LOCALE][1],
        texts=texts,
        priority=priority,
        school_id=event.school_id,
        actor_id=event.author_id,
        source_id=event.id,
        recipients=recipients,
        attachments=[
            Attachment(
                filename="event.ics",
                content_type=f"text/calendar; method={ics.method_of(event)}",
                content=ics.invitation(event).decode("utf-8"),
            )
        ],
        # An email about an event that has begun is no use (a cancellation still is).
        email_until=None if kind == NoticeKind.cancelled else as_utc(event.starts_at),
        payload=EventPayload(
            event_id=str(event.id),
            kind=kind,
            event_title=event.title,
            school_name=school.name,
            author_name=author_name,
            place=event.place,
            description=event.description,
            starts_at=as_utc(event.starts_at).isoformat(),
            ends_at=as_utc(event.ends_at).isoformat(),
            reminder=reminder.value if reminder else None,
            answerable=kind != NoticeKind.cancelled and answerable(event, now or utcnow()),
        ),
    )
    return await publish(notice, now=now)


async def _people_who_may_come(event: Event) -> list[PydanticObjectId]:
    return await repository.answerers(event.id, [Answer.yes, Answer.maybe])


@jobs.job(NOTIFY_JOB, queue=jobs.FANOUT_QUEUE)
async def notify(*, event_id: str, kind: str, user_id: str | None = None, version: int = 0) -> int:
    """Tell an event's people what happened to it; safe to run again."""
    event = await repository.get(PydanticObjectId(event_id))
    if event is None:
        return 0
    what = NoticeKind(kind)
    if what == NoticeKind.published:
        if event.status != EventStatus.scheduled:
            return 0
        school = await schools.school_by_id(event.school_id)
        if school is None:
            return 0
        recipients = await audience_ids(event, school)
        return await _tell(event, kind=what, key=f"{event.key}:published", recipients=recipients)
    if what == NoticeKind.changed:
        return await _tell(
            event,
            kind=what,
            key=f"{event.key}:changed:{version}",
            recipients=await _people_who_may_come(event),
            priority=Priority.high,
        )
    if what == NoticeKind.cancelled:
        return await _tell(
            event,
            kind=what,
            key=f"{event.key}:cancelled",
            recipients=await _people_who_may_come(event),
            priority=Priority.high,
        )
    assert user_id is not None
    return await _tell(
        event,
        kind=what,
        key=f"{event.key}:promoted:{user_id}:{version}",
        recipients=[PydanticObjectId(user_id)],
    )


async def _reminder_recipients(event: Event) -> list[PydanticObjectId]:
    """Those who said yes and hold a place; the whole audience when nobody has answered."""
    if await repository.has_answers(event.id):
        return await repository.answerers(event.id, [Answer.yes], confirmed_only=True)
    school = await schools.school_by_id(event.school_id)
    return await audience_ids(event, school) if school is not None else []


async def _remind(event: Event, now: datetime) -> int:
    if event.status != EventStatus.scheduled or as_utc(event.starts_at) <= now:
        await repository.reminded(event.id, sent=event.reminders_sent, next_at=None)
        return 0
    due = [
        r
        for r, before in REMINDERS
        if r not in event.reminders_sent and as_utc(event.starts_at) - before <= now
    ]
    created = 0
    if due:
        # Both due (the workers were down): the nearer one says all there is to say.
        reminder = due[-1]
        stamp = int(as_utc(event.starts_at).timestamp())
        created = await _tell(
            event,
            kind=NoticeKind.reminder,
            key=f"{event.key}:reminder:{reminder.value}:{stamp}",
            recipients=await _reminder_recipients(event),
            reminder=reminder,
            now=now,
        )
    done, next_at = reminder_plan(event.starts_at, sent=[*event.reminders_sent, *due], now=now)
    await repository.reminded(event.id, sent=done, next_at=next_at)
    return created


@jobs.job(REMIND_JOB, every=timedelta(minutes=1), at_start=True)
async def remind_due(*, now: datetime | None = None) -> int:
    """Send the reminders that have come due (beat, every minute). Each due event is claimed
    by one conditional update on the indexed `next_reminder_at`, so two runs never take the
    same one and events not yet due are never read."""
    now = now or utcnow()
    reminded = 0
    while True:
        event = await repository.claim_due_reminder(now=now, lease_until=now + REMINDER_LEASE)
        if event is None:
            return reminded
        await _remind(event, now)
        reminded += 1
