"""Daily and weekly digests: the scan for who is due, and one email per period with what it
covers (when each is due: digest_schedule.py). A digest holds at most DIGEST_PAGE
notifications; a period with more sends the rest in further emails of the same period, so
no query or email grows without bound.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

from beanie import PydanticObjectId

from app.auth import directory
from app.auth import service as accounts
from app.auth.models import User
from app.core import jobs
from app.core.config import get_settings
from app.core.i18n import supported, translate
from app.core.security import as_utc, utcnow
from app.delivery import service as delivery
from app.delivery.models import Email, EmailKind
from app.delivery.render import render, template_path, when
from app.notifications import digest_schedule as schedule
from app.notifications import repository
from app.notifications.links import preferences_url, unsubscribe_headers, unsubscribe_url
from app.notifications.models import Notification, NotificationSettings
from app.notifications.preferences import Preferences
from app.notifications.settings import settings_of
from app.notifications.topics import EmailFrequency, topics

SCAN_JOB = "digests.scan"
SEND_DIGEST_JOB = "digests.send"
DIGEST_PAGE = 100
SCAN_PAGE = 1000


@jobs.job(SCAN_JOB, every=timedelta(minutes=1), at_start=True)
async def scan(*, now: datetime | None = None) -> int:
    """Enqueue one digest job per user whose digest is due (beat, every minute)."""
    # A time given by the caller (a replay, a test's clock) is the send jobs' time too;
    # otherwise each job reads the clock when it runs.
    clock: dict[str, Any] = {"now": now} if now is not None else {}
    now = now or utcnow()
    enqueued = 0
    after: repository.DueSettings | None = None
    while True:
        # A page at a time, so a district's worth of due people never sits in memory at once.
        page = await repository.due_settings(now=now, after=after, limit=SCAN_PAGE)
        due = [settings_id for _, settings_id in page]
        live = await directory.live_user_ids(due)
        gone = [user_id for user_id in due if user_id not in live]
        if gone:
            await schedule.forget_schedules(gone)
        for user_id in due:
            if user_id in live:
                await jobs.enqueue(SEND_DIGEST_JOB, user_id=str(user_id), **clock)
        enqueued += len(live)
        if len(due) < SCAN_PAGE:
            return enqueued
        after = page[-1]


@jobs.job(SEND_DIGEST_JOB)
async def send_digests(*, user_id: str, now: datetime | None = None) -> int:
    """Send the user's due digests and move them forward: per period one email, or a few
    when more than DIGEST_PAGE notifications are waiting."""
    now = now or utcnow()
    settings = await settings_of(PydanticObjectId(user_id))
    user = await accounts.get_live_user(settings.id)
    if user is None:
        await schedule.forget_schedules([settings.id])
        return 0
    sent = 0
    for period in schedule.PERIODS:
        due = getattr(settings.digest_due, period.value)
        if due is not None and as_utc(due) <= now:
            sent += await _send_period(user, settings, period, as_utc(due), now)
    return sent


async def _send_period(
    user: User,
    settings: NotificationSettings,
    period: EmailFrequency,
    due: datetime,
    now: datetime,
) -> int:
    zone = schedule.user_zone(user)
    first_key = f"digest:{period.value}:{user.id}:{schedule.period_label(period, due, zone)}"
    emails_sent = 0
    for page in range(1, 10_000):
        key = first_key if page == 1 else f"{first_key}:{page}"
        sent_now, included = await _send_page(user, settings, period, key, now)
        emails_sent += sent_now
        # Only the run that wrote a full page goes on to the next: a late duplicate job,
        # finding pages another run wrote, must not start a second email that evening
        # from what has arrived since. What a crash left unpaged waits for the next digest.
        if not sent_now or len(included) < DIGEST_PAGE:
            break
    await schedule.advance(settings, period, due, now, zone, sent_now=emails_sent > 0)
    return emails_sent


async def _send_page(
    user: User, settings: NotificationSettings, period: EmailFrequency, key: str, now: datetime
) -> tuple[int, list[PydanticObjectId]]:
    """One digest email of at most DIGEST_PAGE notifications, and marking them digested:
    whether this run wrote the email, and which notifications it holds."""
    existing = await delivery.find_email(key)
    sent_now = False
    if existing is not None:
        # Written by an earlier run that stopped half-way: finish its bookkeeping only.
        included = existing.notification_ids
    else:
        assert user.id is not None
        pending = await repository.pending_digest(
            recipient_id=user.id, period=period, until=now, limit=DIGEST_PAGE
        )
        included = []
        if pending:
            candidate = _digest_email(user, settings.preferences, period, key, pending)
            written = await delivery.queue_email(candidate)
            # A racing job may have written this period's email first, from fewer
            # notifications: only what that email holds is digested; the rest waits.
            included = written.notification_ids
            sent_now = written is candidate
    if included:
        await repository.mark_digested(included, now=now)
    return int(sent_now), included


def _digest_email(
    user: User,
    preferences: Preferences,
    period: EmailFrequency,
    key: str,
    notifications: list[Notification],
) -> Email:
    assert user.id is not None
    settings = get_settings()
    locale = user.locale.value
    groups: OrderedDict[tuple[str | None, str], dict[str, Any]] = OrderedDict()
    for notification in notifications:
        topic = topics.get(notification.topic)
        # Within a topic, the producer may group further (grades by child, by the child's id:
        # two children may share a name).
        subgroup = topic.digest_group(notification.data)
        group = groups.setdefault(
            (subgroup[0] if subgroup else None, topic.name),
            {
                "heading": subgroup[1] if subgroup else None,
                "topic_label": translate(locale, f"topics.{topic.name}.name"),
                "items": [],
            },
        )
        group["items"].append(_item(notification, user, preferences))
    about = list(dict.fromkeys(n.topic for n in notifications))
    link = unsubscribe_url(settings=settings, user_id=user.id, topics=about)
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


def _item(notification: Notification, user: User, preferences: Preferences) -> dict[str, Any]:
    """One line of a digest: when, title and body, and what the topic's own line template
    (when it has one) reads, so the template words it per locale."""
    topic = topics.get(notification.topic)
    options = topic.option_values(preferences.options)
    locale = supported(user.locale.value)
    item: dict[str, Any] = {
        "when": when(as_utc(notification.created_at), locale, user.timezone),
        "title": notification.title,
        "body": notification.body,
        "template": None,
    }
    if topic.digest_item:
        line = f"{topic.name}/digest_item"
        item["template"] = {part: template_path(line, locale, part) for part in ("html", "txt")}
    item.update(
        topic.digest_fields(notification.data, notification.title, notification.body, options)
    )
    return item
