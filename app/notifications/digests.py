"""Daily and weekly digests: when each is due, and one email per period with what it covers.

Each user keeps the next due time of each digest (UTC) and the earliest of them in an
indexed field, so the beat scan asks "who is due now" instead of scanning everyone.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from beanie import PydanticObjectId, SortDirection

from app.auth import hooks as auth_hooks
from app.auth.models import DigestDue, User
from app.core import jobs
from app.core.config import get_settings
from app.core.db import collection
from app.core.i18n import translate
from app.core.security import as_utc, utcnow
from app.core.timezones import UTC, zone_or_utc
from app.delivery import service as delivery
from app.delivery.models import Email, EmailKind
from app.delivery.render import render, when
from app.notifications.links import preferences_url, unsubscribe_headers, unsubscribe_url
from app.notifications.models import SUBSCRIBABLE_TOPICS, EmailDecision, Notification, Topic
from app.notifications.preferences import EmailFrequency, Preferences, grade_as_emailed

SCAN_JOB = "digests.scan"
SEND_JOB = "digests.send"
PERIODS = (EmailFrequency.daily, EmailFrequency.weekly)


@auth_hooks.timezone_changed.connect
async def follow_new_time_zone(*, user: User, timezone: str) -> None:
    """Digest hours are local: a user who moves to another zone moves their due times."""
    await reschedule(user=user, preferences=user.preferences, timezone=timezone)


def user_zone(user: User) -> ZoneInfo:
    return zone_or_utc(user.timezone)


def next_due(*, now: datetime, zone: ZoneInfo, hour: int, weekday: int | None = None) -> datetime:
    """The next start of `hour` (local) whose hour has not ended yet, on `weekday` if given.

    At 18:30 with hour 18 that is today's 18:00 (due at once); with hour 9, tomorrow's.
    """
    local_now = as_utc(now).astimezone(zone)
    for offset in range(0, 9):
        day = local_now.date() + timedelta(days=offset)
        if weekday is not None and day.isoweekday() != weekday:
            continue
        start = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
        if start.astimezone(UTC) + timedelta(hours=1) > as_utc(now):
            return start.astimezone(UTC)
    raise AssertionError("a matching day exists within a week")


def _uses(preferences: Preferences, period: EmailFrequency) -> bool:
    return period in (preferences.email.grades, preferences.email.announcements)


def plan(*, user: User, preferences: Preferences, timezone: str, now: datetime) -> DigestDue:
    """The due times after a change of preferences or time zone.

    A digest the change does not touch keeps its time; one whose hour, weekday or zone
    changed, or that was just switched on, is due at the next start of its hour.
    """
    current = user.digest_due
    zone_changed = timezone != user.timezone
    before = user.preferences
    zone = zone_or_utc(timezone)
    due = DigestDue()
    for period in PERIODS:
        if not _uses(preferences, period):
            continue
        existing = getattr(current, period.value)
        weekly = period == EmailFrequency.weekly
        moved = (
            zone_changed
            or preferences.digest_hour != before.digest_hour
            or (weekly and preferences.digest_weekday != before.digest_weekday)
        )
        if existing is not None and not moved:
            setattr(due, period.value, existing)
        else:
            setattr(
                due,
                period.value,
                next_due(
                    now=now,
                    zone=zone,
                    hour=preferences.digest_hour,
                    weekday=preferences.digest_weekday if weekly else None,
                ),
            )
    return due


async def reschedule(
    *, user: User, preferences: Preferences, timezone: str, now: datetime | None = None
) -> None:
    """Store new preferences and time zone with the digest due times they lead to."""
    due = plan(user=user, preferences=preferences, timezone=timezone, now=now or utcnow())
    for topic in SUBSCRIBABLE_TOPICS:
        frequency = getattr(preferences.email, topic.value)
        if frequency in PERIODS and frequency != getattr(user.preferences.email, topic.value):
            # A topic moved to the other digest takes what its old digest had not yet sent.
            await collection(Notification).update_many(
                {
                    "recipient_id": user.id,
                    "topic": topic,
                    "email_decision": EmailDecision.digest,
                    "digested_at": None,
                    "digest_frequency": {"$ne": frequency},
                },
                {"$set": {"digest_frequency": frequency}},
            )
    await collection(User).update_one(
        {"_id": user.id},
        {
            "$set": {
                "preferences": preferences.model_dump(mode="json"),
                "timezone": timezone,
                "digest_due": due.model_dump(),
                "next_digest_at": due.earliest(),
            }
        },
    )
    user.preferences, user.timezone = preferences, timezone
    user.digest_due, user.next_digest_at = due, due.earliest()


@jobs.job(SCAN_JOB)
async def scan(*, now: datetime | None = None) -> int:
    """Enqueue one digest job per user whose digest is due (beat, every minute)."""
    # A time given by the caller (a replay, a test's clock) is the send jobs' time too;
    # otherwise each job reads the clock when it runs.
    clock: dict[str, Any] = {"now": now} if now is not None else {}
    now = now or utcnow()
    cursor = collection(User).find(
        {"next_digest_at": {"$lte": now}, "deleted_at": None}, {"_id": 1}
    )
    due = [str(row["_id"]) async for row in cursor]
    for user_id in due:
        await jobs.enqueue(SEND_JOB, user_id=user_id, **clock)
    return len(due)


def period_label(period: EmailFrequency, due: datetime, zone: ZoneInfo) -> str:
    local: date = as_utc(due).astimezone(zone).date()
    if period == EmailFrequency.weekly:
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return local.isoformat()


@jobs.job(SEND_JOB)
async def send_digests(*, user_id: str, now: datetime | None = None) -> int:
    """Send the user's due digests (one email per period at most) and move them forward."""
    now = now or utcnow()
    user = await User.get(PydanticObjectId(user_id))
    if user is None or user.is_deleted:
        return 0
    sent = 0
    for period in PERIODS:
        due = getattr(user.digest_due, period.value)
        if due is not None and as_utc(due) <= now:
            sent += await _send_period(user, period, as_utc(due), now)
    return sent


async def _send_period(user: User, period: EmailFrequency, due: datetime, now: datetime) -> int:
    zone = user_zone(user)
    key = f"digest:{period.value}:{user.id}:{period_label(period, due, zone)}"
    existing = await Email.find_one({"idempotency_key": key})
    sent_now = False
    if existing is not None:
        # Written by an earlier run that stopped half-way: finish its bookkeeping only.
        included = existing.notification_ids
    else:
        pending = (
            await Notification.find(
                {
                    "recipient_id": user.id,
                    "email_decision": EmailDecision.digest,
                    "digest_frequency": period,
                    "digested_at": None,
                    "created_at": {"$lte": now},
                }
            )
            .sort([("created_at", SortDirection.ASCENDING), ("_id", SortDirection.ASCENDING)])
            .to_list()
        )
        included = []
        if pending:
            candidate = _digest_email(user, period, key, pending)
            written = await delivery.queue_email(candidate)
            # A racing job may have written this period's email first, from fewer
            # notifications: only what that email holds is digested; the rest waits.
            included = written.notification_ids
            sent_now = written is candidate
    if included:
        await collection(Notification).update_many(
            {"_id": {"$in": included}, "digested_at": None}, {"$set": {"digested_at": now}}
        )
    await _advance(user, period, due, now, zone, sent_now=sent_now)
    return 1 if sent_now else 0


async def _advance(
    user: User,
    period: EmailFrequency,
    due: datetime,
    now: datetime,
    zone: ZoneInfo,
    *,
    sent_now: bool,
) -> None:
    preferences = user.preferences
    weekly = period == EmailFrequency.weekly
    # next_due(now=t) is the first slot whose hour outlasts t. An email sent now, even one
    # late for a slot days ago (the workers were away), also serves a slot already open: the
    # next starts after now, never two in one evening. When nothing went out now, a later
    # slot still open is still due.
    hour = timedelta(hours=1)
    moment = max(now, due) + hour if sent_now else max(now, due + hour)
    following = next_due(
        now=moment,
        zone=zone,
        hour=preferences.digest_hour,
        weekday=preferences.digest_weekday if weekly else None,
    )
    setattr(user.digest_due, period.value, following)
    # Conditional on the due time read, so a preference change in between is not undone.
    await collection(User).update_one(
        {"_id": user.id, f"digest_due.{period.value}": due},
        {
            "$set": {
                f"digest_due.{period.value}": following,
                "next_digest_at": user.digest_due.earliest(),
            }
        },
    )


def _digest_email(
    user: User, period: EmailFrequency, key: str, notifications: list[Notification]
) -> Email:
    assert user.id is not None
    settings = get_settings()
    locale = user.locale.value
    groups: OrderedDict[tuple[str | None, Topic], dict[str, Any]] = OrderedDict()
    hide_values = not user.preferences.include_grade_values
    for notification in notifications:
        is_grade = notification.topic == Topic.grades
        child = notification.data.get("student_name") if is_grade else None
        # By child id: two children may share a name.
        child_key = str(notification.data.get("student_id") or child) if is_grade else None
        group = groups.setdefault(
            (child_key, notification.topic),
            {
                "child": child,
                "topic_label": translate(locale, f"topics.{notification.topic.value}.name"),
                "items": [],
            },
        )
        group["items"].append(_item(notification, user, hide_values=hide_values))
    topics = list(dict.fromkeys(n.topic for n in notifications))
    link = unsubscribe_url(settings=settings, user_id=user.id, topics=topics)
    rendered = render(
        "digest",
        locale,
        period=period.value,
        count=len(notifications),
        groups=list(groups.values()),
        unsubscribe_url=link,
        preferences_url=preferences_url(settings=settings, user_id=user.id),
        reason=translate(locale, f"reason.{period.value}"),
    )
    return delivery.new_email(
        key=key,
        kind=EmailKind.digest,
        to=user.email,
        rendered=rendered,
        recipient_id=user.id,
        headers=unsubscribe_headers(link),
        notification_ids=[n.id for n in notifications if n.id is not None],
    )


def _item(notification: Notification, user: User, *, hide_values: bool) -> dict[str, Any]:
    """One line of a digest; a grade from its fields, so the template words it per locale."""
    data = grade_as_emailed(notification.data, user.preferences)
    item: dict[str, Any] = {
        "when": when(as_utc(notification.created_at), user.locale.value, user.timezone),
        "title": notification.title,
        "body": notification.body,
        "grade": None,
    }
    if notification.topic != Topic.grades:
        return item
    if "subject" in data:
        item["grade"] = {
            "subject": data["subject"],
            "value": data.get("value"),
            "comment": data.get("comment"),
            "kind": data.get("kind") or "",
            "teacher": data.get("teacher_name"),
            "changed": bool(data.get("changed")),
        }
    elif hide_values:
        item["body"] = None  # the body of a grade notification states the value
    return item
