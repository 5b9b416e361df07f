"""Quiet hours: an email due inside the recipient's window waits for its end, then goes once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI

from app.announcements.topic import AnnouncementPayload
from app.auth.models import Role, User
from app.delivery import service as delivery
from app.delivery.models import Email, EmailStatus
from app.notifications.fanout import deliver
from app.notifications.models import Notice
from app.notifications.preferences import Preferences, Priority, QuietHours
from app.notifications.quiet_hours import quiet_hours_end
from tests.conftest import UserFactory
from tests.delivery.conftest import CountingSmtpServer
from tests.delivery.helpers import only_message_to, outbox_of, received_by

VLADIVOSTOK = ZoneInfo("Asia/Vladivostok")  # UTC+10 all year
NEW_YORK = ZoneInfo("America/New_York")


def local(zone: ZoneInfo, month: int, day: int, hour: int, minute: int) -> datetime:
    # Years ahead, so the send job the fan-out enqueues (on the real clock) finds nothing due.
    return datetime(2031, month, day, hour, minute, tzinfo=zone)


def announcement(key: str, *, priority: Priority = Priority.normal) -> Notice:
    return Notice(
        key=key,
        topic="announcements",
        title="Trip on Friday",
        body="Bring a packed lunch",
        priority=priority,
        payload=AnnouncementPayload(school_name="School 1", author_name="The Head"),
    )


async def sleeper(make_user: UserFactory, zone: ZoneInfo, start: str, end: str) -> User:
    preferences = Preferences(quiet_hours=QuietHours(start=start, end=end))
    return await make_user(Role.teacher, timezone=zone.key, preferences=preferences)


async def test_inside_a_window_past_midnight_the_email_waits_for_its_end(
    app: FastAPI, make_user: UserFactory, smtp_server: CountingSmtpServer
) -> None:
    user = await sleeper(make_user, VLADIVOSTOK, "21:00", "07:00")
    assert user.id
    now = local(VLADIVOSTOK, 3, 10, 23, 30)

    assert await deliver(announcement("trip"), [user.id], now=now) == 1

    (email,) = await outbox_of(user)
    morning = local(VLADIVOSTOK, 3, 11, 7, 0)
    assert email.status == EmailStatus.pending
    assert email.next_attempt_at == morning.astimezone(UTC)
    assert email.next_attempt_at == datetime(2031, 3, 10, 21, 0, tzinfo=UTC)

    assert (await delivery.send_emails(now=now)).delivered == 0
    assert (await delivery.send_emails(now=morning - timedelta(minutes=1))).delivered == 0
    assert smtp_server.envelopes == []

    assert (await delivery.send_emails(now=morning)).delivered == 1
    assert (await delivery.send_emails(now=morning + timedelta(hours=1))).delivered == 0
    message = only_message_to(smtp_server, user.email)
    assert message["Subject"] == "School 1: Trip on Friday"
    sent = await Email.get(email.id)
    assert sent is not None and sent.status == EmailStatus.sent and sent.attempts == 1


@pytest.mark.parametrize(
    ("zone", "start", "end", "now", "expected"),
    [
        # After midnight, still inside a wrapping window: it ends the same morning.
        (VLADIVOSTOK, "21:00", "07:00", (3, 11, 0, 30), (3, 11, 7, 0)),
        # A daytime window that does not wrap.
        (VLADIVOSTOK, "13:00", "15:30", (3, 11, 13, 0), (3, 11, 15, 30)),
        # The window is in the user's zone, not UTC's: 22:15 in New York is 03:15 UTC.
        (NEW_YORK, "22:00", "06:45", (6, 2, 22, 15), (6, 3, 6, 45)),
    ],
)
async def test_the_window_is_read_in_the_users_own_time_zone(
    app: FastAPI,
    make_user: UserFactory,
    zone: ZoneInfo,
    start: str,
    end: str,
    now: tuple[int, int, int, int],
    expected: tuple[int, int, int, int],
) -> None:
    user = await sleeper(make_user, zone, start, end)
    assert user.id

    await deliver(announcement("trip"), [user.id], now=local(zone, *now))

    (email,) = await outbox_of(user)
    assert email.next_attempt_at == local(zone, *expected).astimezone(UTC)


@pytest.mark.parametrize(
    "now",
    [(3, 10, 20, 59), (3, 11, 7, 0), (3, 11, 12, 0)],
    ids=["just-before", "at-the-end", "midday"],
)
async def test_outside_the_window_the_email_is_due_at_once(
    app: FastAPI,
    make_user: UserFactory,
    smtp_server: CountingSmtpServer,
    now: tuple[int, int, int, int],
) -> None:
    user = await sleeper(make_user, VLADIVOSTOK, "21:00", "07:00")
    assert user.id
    moment = local(VLADIVOSTOK, *now)

    await deliver(announcement("trip"), [user.id], now=moment)

    (email,) = await outbox_of(user)
    assert email.next_attempt_at == moment.astimezone(UTC)
    assert (await delivery.send_emails(now=moment)).delivered == 1
    assert len(received_by(smtp_server, user.email)) == 1


async def test_critical_is_sent_inside_quiet_hours(
    app: FastAPI, make_user: UserFactory, smtp_server: CountingSmtpServer
) -> None:
    user = await sleeper(make_user, VLADIVOSTOK, "21:00", "07:00")
    assert user.id
    now = local(VLADIVOSTOK, 3, 10, 23, 30)

    await deliver(announcement("fire", priority=Priority.critical), [user.id], now=now)

    (email,) = await outbox_of(user)
    assert email.next_attempt_at == now.astimezone(UTC)
    assert (await delivery.send_emails(now=now)).delivered == 1
    assert only_message_to(smtp_server, user.email)["Subject"].startswith("[Urgent]")


def test_quiet_hours_end_across_a_daylight_saving_change() -> None:
    # New York springs forward on 2031-03-09: the night is an hour shorter in UTC.
    end = quiet_hours_end(
        start="22:00",
        end="07:00",
        timezone="America/New_York",
        now=datetime(2031, 3, 9, 4, 0, tzinfo=UTC),
    )
    assert end == datetime(2031, 3, 9, 11, 0, tzinfo=UTC)
    assert (
        quiet_hours_end(
            start="22:00",
            end="07:00",
            timezone="America/New_York",
            now=datetime(2031, 3, 9, 12, 0, tzinfo=UTC),
        )
        is None
    )
