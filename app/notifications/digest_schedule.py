"""When each digest is due: the next local digest hour, moved by preference and time zone
changes and after each digest, kept per person in their notification settings (UTC, with
the earliest of them indexed so the scan asks only who is due now)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from beanie import PydanticObjectId

from app.auth import hooks as auth_hooks
from app.auth.models import User
from app.core.security import as_utc, utcnow
from app.core.timezones import UTC, zone_or_utc
from app.notifications import repository
from app.notifications.models import DigestDue, NotificationSettings
from app.notifications.preferences import Preferences
from app.notifications.settings import settings_of
from app.notifications.topics import EmailFrequency

PERIODS = (EmailFrequency.daily, EmailFrequency.weekly)


@auth_hooks.timezone_changed.connect
async def follow_new_time_zone(*, user: User, timezone: str) -> None:
    """Digest hours are local: a user who moves to another zone moves their due times."""
    assert user.id is not None
    settings = await settings_of(user.id)
    await reschedule(
        user=user, settings=settings, preferences=settings.preferences, timezone=timezone
    )


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
    return period in preferences.email.values()


def plan(
    *,
    user: User,
    settings: NotificationSettings,
    preferences: Preferences,
    timezone: str,
    now: datetime,
) -> DigestDue:
    """The due times after a change of preferences or time zone.

    A digest the change does not touch keeps its time; one whose hour, weekday or zone
    changed, or that was just switched on, is due at the next start of its hour.
    """
    current = settings.digest_due
    zone_changed = timezone != user.timezone
    before = settings.preferences
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
    *,
    user: User,
    settings: NotificationSettings,
    preferences: Preferences,
    timezone: str,
    now: datetime | None = None,
) -> None:
    """Store new preferences with the digest due times they and the user's time zone (the
    new one, when it is changing) lead to. `settings` are the person's settings as read."""
    due = plan(
        user=user,
        settings=settings,
        preferences=preferences,
        timezone=timezone,
        now=now or utcnow(),
    )
    assert user.id is not None
    for topic, frequency in preferences.email.items():
        if frequency in PERIODS and frequency != settings.preferences.email_for(topic):
            # A topic moved to the other digest takes what its old digest had not yet sent.
            await repository.move_to_digest(recipient_id=user.id, topic=topic, frequency=frequency)
    await repository.save_settings(
        settings.id, preferences=preferences.model_dump(mode="json"), due=due
    )
    settings.preferences, settings.digest_due, settings.next_digest_at = (
        preferences,
        due,
        due.earliest(),
    )


async def forget_schedules(user_ids: list[PydanticObjectId]) -> None:
    """Nobody left to write to: stop the scan from finding these people again every minute."""
    await repository.forget_schedules(user_ids)


def period_label(period: EmailFrequency, due: datetime, zone: ZoneInfo) -> str:
    local: date = as_utc(due).astimezone(zone).date()
    if period == EmailFrequency.weekly:
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return local.isoformat()


async def advance(
    settings: NotificationSettings,
    period: EmailFrequency,
    due: datetime,
    now: datetime,
    zone: ZoneInfo,
    *,
    sent_now: bool,
) -> None:
    preferences = settings.preferences
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
    setattr(settings.digest_due, period.value, following)
    # Conditional on the due time read, so a preference change in between is not undone.
    await repository.advance_due(
        settings.id,
        period=period,
        was=due,
        following=following,
        earliest=settings.digest_due.earliest(),
    )
