"""What events tell people: changes and cancellations to those who may come (priority high),
reminders 24 h and 1 h before to those who said yes, each exactly once however beat runs,
and the quiet-hours rule of section 8."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from beanie import PydanticObjectId

from app.delivery.models import Email
from app.events import notices, repository
from app.events.models import Event
from app.notifications.models import Notification
from app.notifications.preferences import Preferences, QuietHours
from tests.conftest import UserFactory, World
from tests.events.helpers import Login, answer, create_event, family, inbox, meeting, starts


def kinds(items: list[dict[str, object]]) -> list[object]:
    return [i["data"]["kind"] for i in items]  # type: ignore[index]


async def test_a_change_of_place_and_a_cancellation_reach_those_who_may_come(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world))
    coming, unsure, not_coming = [await family(world, make_user) for _ in range(3)]
    await answer(client, event["id"], login_as(coming), answer="yes")
    await answer(client, event["id"], login_as(unsure), answer="maybe")
    await answer(client, event["id"], login_as(not_coming), answer="no")

    retitled = await client.patch(
        f"/events/{event['id']}", json={"title": "Meeting"}, headers=login_as(world.admin)
    )
    assert retitled.json()["sequence"] == 0  # a new title is no news to anyone
    await client.patch(
        f"/events/{event['id']}", json={"place": "Hall"}, headers=login_as(world.admin)
    )
    await client.delete(f"/events/{event['id']}", headers=login_as(world.admin))

    for person in (coming, unsure):
        items = await inbox(client, login_as(person))
        told = {i["data"]["kind"]: i for i in items}
        # They joined after the invitation went out; the change and the cancellation find them.
        assert set(told) == {"changed", "cancelled"}
        assert told["changed"]["priority"] == "high"
        assert told["changed"]["body"].endswith("Hall")
        assert told["cancelled"]["priority"] == "high"
        assert told["cancelled"]["title"] == "Cancelled: Meeting"
    assert kinds(await inbox(client, login_as(not_coming))) == []
    assert kinds(await inbox(client, login_as(world.student))) == ["published"]


async def test_reminders_go_once_each_to_those_who_said_yes_however_beat_runs(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world))
    coming, unsure = [await family(world, make_user) for _ in range(2)]
    await answer(client, event["id"], login_as(coming), answer="yes")
    await answer(client, event["id"], login_as(unsure), answer="maybe")
    start = starts(event)

    assert await notices.remind_due(now=start - timedelta(hours=25)) == 0
    day_before = start - timedelta(hours=23, minutes=59)
    # Two beats at once: each due event is claimed by one of them.
    runs = await asyncio.gather(
        notices.remind_due(now=day_before), notices.remind_due(now=day_before)
    )
    assert sorted(runs) == [0, 1]
    assert await notices.remind_due(now=day_before + timedelta(minutes=1)) == 0
    hour_before = start - timedelta(minutes=59)
    await asyncio.gather(notices.remind_due(now=hour_before), notices.remind_due(now=hour_before))
    await notices.remind_due(now=start + timedelta(minutes=5))

    reminders = [
        i for i in await inbox(client, login_as(coming)) if i["data"]["kind"] == "reminder"
    ]
    assert sorted(i["title"] for i in reminders) == [
        "In 1 hour: Parents' meeting",
        "In 24 hours: Parents' meeting",
    ]
    assert "reminder" not in kinds(await inbox(client, login_as(unsure)))
    stored = await Event.get(PydanticObjectId(event["id"]))
    assert stored is not None and stored.next_reminder_at is None


async def test_a_reminder_run_that_died_midway_is_finished_without_repeats(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world))
    coming = await family(world, make_user)
    await answer(client, event["id"], login_as(coming), answer="yes")
    due = starts(event) - timedelta(hours=23)

    async def worker_dies(*args: object, **kwargs: object) -> None:
        raise SystemExit("worker killed after telling people, before recording it")

    monkeypatch.setattr(repository, "reminded", worker_dies)
    with pytest.raises(SystemExit):
        await notices.remind_due(now=due)
    monkeypatch.undo()
    # Still held by the dead run's lease; due again once it ends.
    assert await notices.remind_due(now=due + timedelta(minutes=1)) == 0
    assert await notices.remind_due(now=due + notices.REMINDER_LEASE) == 1

    key = f"event:{event['id']}:reminder:24h:{int(starts(event).timestamp())}"
    assert await Notification.find({"event_key": key}).count() == 1
    assert await Email.find({"idempotency_key": {"$regex": f"^notification:{key}:"}}).count() == 1


async def test_an_event_nobody_answered_reminds_its_whole_audience(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world))
    await notices.remind_due(now=starts(event) - timedelta(hours=23))
    for person in (world.parent, world.student, world.teacher):
        assert "reminder" in kinds(await inbox(client, login_as(person)))


def quiet_around(moment: datetime, timezone: str, *, until: timedelta) -> Preferences:
    local = moment.astimezone(ZoneInfo(timezone))
    return Preferences(
        quiet_hours=QuietHours(
            start=(local - timedelta(hours=1)).strftime("%H:%M"),
            end=(local + until).strftime("%H:%M"),
        )
    )


async def test_a_reminder_in_quiet_hours_waits_for_their_end_only_if_before_the_start(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world))
    start = starts(event)
    due = start - timedelta(minutes=59)
    zone = "Europe/Moscow"
    short_night = await family(
        world,
        make_user,
        timezone=zone,
        preferences=quiet_around(due, zone, until=timedelta(minutes=30)),
    )
    long_night = await family(
        world,
        make_user,
        timezone=zone,
        preferences=quiet_around(due, zone, until=timedelta(hours=3)),
    )
    for person in (short_night, long_night):
        await answer(client, event["id"], login_as(person), answer="yes")
    await notices.remind_due(now=due)

    key = f"event:{event['id']}:reminder:1h:{int(start.timestamp())}"
    for person in (short_night, long_night):
        assert await Notification.find({"event_key": key, "recipient_id": person.id}).count() == 1
    waiting = await Email.find(
        {"idempotency_key": f"notification:{key}:{short_night.id}"}
    ).to_list()
    assert len(waiting) == 1
    assert due < waiting[0].next_attempt_at < start
    assert await Email.find({"idempotency_key": f"notification:{key}:{long_night.id}"}).count() == 0
