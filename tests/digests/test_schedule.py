"""The due times the preference and profile routes keep on the user, on a clock the test sets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx
import pytest

from app.auth.models import User
from app.core.security import as_utc
from app.notifications import digest_schedule
from app.notifications import digests as digests
from app.notifications.models import NotificationSettings
from tests.conftest import SmtpServer, World
from tests.digests.helpers import Family, announce, local, received, reload, stored, text_of

Login = Callable[[User], dict[str, str]]
BERLIN, TOKYO = "Europe/Berlin", "Asia/Tokyo"


class Clock:
    """What the digest service takes for now when a route does not pass a time."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = local("UTC", 2025, 6, 10, 0)
        monkeypatch.setattr(digest_schedule, "utcnow", lambda: self.now)

    def set(self, moment: datetime) -> None:
        self.now = moment


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


@pytest.fixture
async def berliner(world: World) -> User:
    """The world's parent, living in Berlin."""
    await User.get_motor_collection().update_one(
        {"_id": world.parent.id}, {"$set": {"timezone": BERLIN}}
    )
    return await reload(world.parent)


def due_times(
    user: NotificationSettings,
) -> tuple[datetime | None, datetime | None, datetime | None]:
    def utc(moment: datetime | None) -> datetime | None:
        return as_utc(moment) if moment is not None else None

    return utc(user.digest_due.daily), utc(user.digest_due.weekly), utc(user.next_digest_at)


async def choose_at_tuesday_noon(
    client: httpx.AsyncClient, headers: dict[str, str], clock: Clock, email: dict[str, str]
) -> None:
    """Email frequencies chosen at noon on Tuesday 10 June 2025 in Berlin."""
    clock.set(local(BERLIN, 2025, 6, 10, 12))
    chosen = await client.patch("/users/me/preferences", json={"email": email}, headers=headers)
    assert chosen.status_code == 200, chosen.text


async def test_a_new_user_has_no_digest_due(berliner: User) -> None:
    assert due_times(await stored(berliner)) == (None, None, None)


async def test_put_daily_at_the_current_hour_is_due_at_once(
    client: httpx.AsyncClient, berliner: User, login_as: Login, clock: Clock
) -> None:
    clock.set(local(BERLIN, 2025, 6, 10, 18, 30))
    response = await client.put(
        "/users/me/preferences",
        json={"email": {"grades": "daily", "announcements": "immediate"}, "digest_hour": 18},
        headers=login_as(berliner),
    )
    assert response.status_code == 200
    today = local(BERLIN, 2025, 6, 10, 18)
    assert due_times(await stored(berliner)) == (today, None, today)


@pytest.mark.parametrize(
    ("hour", "expected"),
    [
        (18, local(BERLIN, 2025, 6, 10, 18)),
        (9, local(BERLIN, 2025, 6, 11, 9)),
        (19, local(BERLIN, 2025, 6, 10, 19)),
        (0, local(BERLIN, 2025, 6, 11, 0)),
    ],
    ids=["current hour: today", "09: tomorrow", "19: today", "00: tonight"],
)
async def test_patching_the_digest_hour_at_18_30(
    client: httpx.AsyncClient,
    berliner: User,
    login_as: Login,
    clock: Clock,
    hour: int,
    expected: datetime,
) -> None:
    headers = login_as(berliner)
    # Chosen in the morning with another hour, so every case below is a real change.
    clock.set(local(BERLIN, 2025, 6, 10, 7))
    response = await client.patch(
        "/users/me/preferences",
        json={"email": {"grades": "daily"}, "digest_hour": 12 if hour != 12 else 13},
        headers=headers,
    )
    assert response.status_code == 200
    clock.set(local(BERLIN, 2025, 6, 10, 18, 30))
    response = await client.patch(
        "/users/me/preferences", json={"digest_hour": hour}, headers=headers
    )
    assert response.status_code == 200
    assert response.json()["digest_hour"] == hour
    assert due_times(await stored(berliner)) == (expected, None, expected)


async def test_switching_back_to_immediate_clears_the_due_time(
    client: httpx.AsyncClient, berliner: User, login_as: Login, clock: Clock
) -> None:
    headers = login_as(berliner)
    await choose_at_tuesday_noon(
        client, headers, clock, {"grades": "daily", "announcements": "weekly"}
    )
    friday = local(BERLIN, 2025, 6, 13, 18)
    assert due_times(await stored(berliner)) == (
        local(BERLIN, 2025, 6, 10, 18),
        friday,
        local(BERLIN, 2025, 6, 10, 18),
    )

    response = await client.patch(
        "/users/me/preferences",
        # Homework too, whose daily digest is its default: then no topic uses the daily one.
        json={"email": {"grades": "immediate", "homework": "immediate"}},
        headers=headers,
    )
    assert response.status_code == 200
    assert due_times(await stored(berliner)) == (None, friday, friday)

    response = await client.patch(
        "/users/me/preferences", json={"email": {"announcements": "off"}}, headers=headers
    )
    assert response.status_code == 200
    assert due_times(await stored(berliner)) == (None, None, None)


async def test_unrelated_changes_keep_a_due_time_that_has_passed(
    client: httpx.AsyncClient, berliner: User, login_as: Login, clock: Clock
) -> None:
    headers = login_as(berliner)
    await choose_at_tuesday_noon(client, headers, clock, {"grades": "daily"})
    today = local(BERLIN, 2025, 6, 10, 18)
    # Past the hour (the workers are behind): recomputing now would skip today's digest.
    clock.set(local(BERLIN, 2025, 6, 10, 20))
    for change in (
        {"min_priority": "high"},
        {"quiet_hours": {"start": "21:00", "end": "07:00"}},
        {"in_app": {"grades": False}},
        {"include_grade_values": False},
        # Only the weekly digest uses the weekday.
        {"digest_weekday": 1},
        # Another topic joining the same digest does not move it.
        {"email": {"announcements": "daily"}},
    ):
        response = await client.patch("/users/me/preferences", json=change, headers=headers)
        assert response.status_code == 200, change
        assert due_times(await stored(berliner)) == (today, None, today), change
    response = await client.patch(
        "/users/me", json={"full_name": "Berta Berliner", "locale": "ru"}, headers=headers
    )
    assert response.status_code == 200
    assert due_times(await stored(berliner)) == (today, None, today)

    # A weekly digest joining (on Monday, chosen above) keeps the daily one and comes later.
    response = await client.patch(
        "/users/me/preferences", json={"email": {"announcements": "weekly"}}, headers=headers
    )
    assert response.status_code == 200
    monday = local(BERLIN, 2025, 6, 16, 18)
    assert due_times(await stored(berliner)) == (today, monday, today)


async def test_a_weekday_change_moves_only_the_weekly_digest(
    client: httpx.AsyncClient, berliner: User, login_as: Login, clock: Clock
) -> None:
    headers = login_as(berliner)
    await choose_at_tuesday_noon(
        client, headers, clock, {"grades": "daily", "announcements": "weekly"}
    )
    clock.set(local(BERLIN, 2025, 6, 10, 18, 30))
    response = await client.patch(
        "/users/me/preferences", json={"digest_weekday": 2}, headers=headers
    )
    assert response.status_code == 200
    # Tuesday 18:30, weekday Tuesday: this week's hour has not ended yet.
    today = local(BERLIN, 2025, 6, 10, 18)
    assert due_times(await stored(berliner)) == (today, today, today)


async def test_patching_the_time_zone_recomputes_the_due_time(
    client: httpx.AsyncClient, berliner: User, login_as: Login, clock: Clock
) -> None:
    headers = login_as(berliner)
    await choose_at_tuesday_noon(
        client, headers, clock, {"grades": "daily", "announcements": "weekly"}
    )
    # 18:30 in Berlin is 01:30 on Wednesday in Tokyo: the next 18:00 there is that evening.
    clock.set(local(BERLIN, 2025, 6, 10, 18, 30))
    response = await client.patch("/users/me", json={"timezone": TOKYO}, headers=headers)
    assert response.status_code == 200
    assert response.json()["timezone"] == TOKYO
    user = await reload(berliner)
    assert user.timezone == TOKYO
    wednesday = local(TOKYO, 2025, 6, 11, 18)
    assert due_times(await stored(berliner)) == (
        wednesday,
        local(TOKYO, 2025, 6, 13, 18),
        wednesday,
    )

    # Back to Berlin at the same instant: 18:30 there, today's hour still open.
    response = await client.patch("/users/me", json={"timezone": BERLIN}, headers=headers)
    assert response.status_code == 200
    today = local(BERLIN, 2025, 6, 10, 18)
    assert due_times(await stored(berliner)) == (today, local(BERLIN, 2025, 6, 13, 18), today)


async def test_an_admin_changing_the_time_zone_recomputes_it_too(
    client: httpx.AsyncClient, world: World, berliner: User, login_as: Login, clock: Clock
) -> None:
    await choose_at_tuesday_noon(client, login_as(berliner), clock, {"grades": "daily"})
    # The admin may manage this parent only once the parent belongs to their school's family.
    clock.set(local(BERLIN, 2025, 6, 10, 18, 30))
    await User.get_motor_collection().update_one(
        {"_id": berliner.id}, {"$set": {"school_ids": [world.school.id]}}
    )
    response = await client.patch(
        f"/users/{berliner.id}", json={"timezone": TOKYO}, headers=login_as(world.admin)
    )
    assert response.status_code == 200, response.text
    wednesday = local(TOKYO, 2025, 6, 11, 18)
    assert due_times(await stored(berliner)) == (wednesday, None, wednesday)


async def test_choosing_the_current_hour_sends_todays_digest_within_a_minute(
    client: httpx.AsyncClient,
    family: Family,
    berliner: User,
    login_as: Login,
    clock: Clock,
    smtp_server: SmtpServer,
) -> None:
    headers = login_as(berliner)
    clock.set(local(BERLIN, 2025, 6, 10, 7))
    await client.patch(
        "/users/me/preferences",
        json={"email": {"announcements": "daily"}, "digest_hour": 9},
        headers=headers,
    )
    await announce(
        family, [berliner], at=local(BERLIN, 2025, 6, 10, 10), title="Trip", body="Zoo on Friday"
    )
    clock.set(local(BERLIN, 2025, 6, 10, 18, 30))
    await client.patch("/users/me/preferences", json={"digest_hour": 18}, headers=headers)

    assert await digests.scan(now=local(BERLIN, 2025, 6, 10, 18, 31)) == 1
    [digest] = received(smtp_server, berliner)
    assert digest["Subject"] == "Your daily Schoolbell digest: 1 update"
    assert "Trip: Zoo on Friday" in text_of(digest)
    # Served: the next one is tomorrow's.
    tomorrow = local(BERLIN, 2025, 6, 11, 18)
    assert due_times(await stored(berliner)) == (tomorrow, None, tomorrow)


async def test_choosing_an_earlier_hour_at_18_30_waits_for_tomorrow(
    client: httpx.AsyncClient,
    family: Family,
    berliner: User,
    login_as: Login,
    clock: Clock,
    smtp_server: SmtpServer,
) -> None:
    headers = login_as(berliner)
    clock.set(local(BERLIN, 2025, 6, 10, 7))
    await client.patch(
        "/users/me/preferences", json={"email": {"announcements": "daily"}}, headers=headers
    )
    await announce(
        family, [berliner], at=local(BERLIN, 2025, 6, 10, 10), title="Trip", body="Zoo on Friday"
    )
    clock.set(local(BERLIN, 2025, 6, 10, 18, 30))
    await client.patch("/users/me/preferences", json={"digest_hour": 9}, headers=headers)

    assert await digests.scan(now=local(BERLIN, 2025, 6, 10, 18, 31)) == 0
    assert await digests.scan(now=local(BERLIN, 2025, 6, 11, 8, 59)) == 0
    assert received(smtp_server, berliner) == []
    assert await digests.scan(now=local(BERLIN, 2025, 6, 11, 9)) == 1
    assert len(received(smtp_server, berliner)) == 1
