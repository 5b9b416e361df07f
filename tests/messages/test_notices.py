"""A new message tells its reader once per burst: one inbox item and one email per
conversation per window, as their preferences and quiet hours say."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.auth.models import Role
from app.core.security import utcnow
from app.delivery.models import EmailStatus
from app.messages import service as messages_service
from app.messages.notices import BURST_WINDOW
from app.notifications.preferences import EmailFrequency, Preferences, QuietHours
from app.schools.guardians import link_guardian
from app.schools.models import School, TeacherAssignment
from tests.conftest import UserFactory, World
from tests.messages.helpers import Login, message_emails, message_notices, started, written


class Clock:
    """The time messages are written at, moved by the test (the window is measured on it)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    # An hour ago, so the emails are due at once on the real clock the sender runs on.
    clock = Clock(utcnow() - timedelta(hours=1))
    monkeypatch.setattr(messages_service, "utcnow", clock)
    return clock


async def test_a_burst_sends_one_email_and_one_inbox_item(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    conversation = await started(client, login_as, world.parent, world.teacher, text="One")
    for text in ("Two", "Three", "Four"):
        await written(client, login_as, world.parent, conversation["id"], text)

    (notice,) = await message_notices(world.teacher)
    assert notice.title == f"New message from {world.parent.full_name}"
    assert notice.body == "Homework in maths: One"
    assert notice.data["conversation_id"] == conversation["id"]
    assert len(await message_emails(world.teacher)) == 1
    listed = (await client.get("/conversations", headers=login_as(world.teacher))).json()
    assert listed["items"][0]["unread"] == 4
    inbox = await client.get("/notifications/unread-count", headers=login_as(world.teacher))
    assert inbox.json()["count"] == 1


async def test_reading_the_conversation_lets_the_next_message_be_told(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    conversation = await started(client, login_as, world.parent, world.teacher, text="One")
    await written(client, login_as, world.parent, conversation["id"], "Two")
    read = await client.post(
        f"/conversations/{conversation['id']}/read", headers=login_as(world.teacher)
    )
    assert read.status_code == 204
    await written(client, login_as, world.parent, conversation["id"], "Three")
    await written(client, login_as, world.parent, conversation["id"], "Four")

    bodies = sorted(n.body for n in await message_notices(world.teacher))
    assert bodies == ["Homework in maths: One", "Homework in maths: Three"]
    assert len(await message_emails(world.teacher)) == 2


async def test_a_message_after_the_window_is_told_again(
    client: httpx.AsyncClient, world: World, login_as: Login, clock: Clock
) -> None:
    conversation = await started(client, login_as, world.parent, world.teacher, text="One")
    clock.now += BURST_WINDOW - timedelta(seconds=1)
    await written(client, login_as, world.parent, conversation["id"], "Still inside")
    assert len(await message_emails(world.teacher)) == 1
    clock.now += timedelta(seconds=1)
    await written(client, login_as, world.parent, conversation["id"], "After it")

    bodies = sorted(n.body for n in await message_notices(world.teacher))
    assert bodies == ["Homework in maths: After it", "Homework in maths: One"]
    assert len(await message_emails(world.teacher)) == 2


async def test_each_side_and_each_conversation_has_its_own_window(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    first = await started(client, login_as, world.parent, world.teacher, text="One")
    second = await started(client, login_as, world.parent, world.teacher, subject="Trip")
    await written(client, login_as, world.teacher, first["id"], "Reply")
    await written(client, login_as, world.teacher, first["id"], "Reply again")
    await written(client, login_as, world.parent, second["id"], "More about the trip")

    assert len(await message_emails(world.teacher)) == 2  # one per conversation
    assert len(await message_emails(world.parent)) == 1


async def test_messages_written_at_once_are_told_once(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    conversation = await started(client, login_as, world.teacher, world.parent, text="Start")
    await client.post(f"/conversations/{conversation['id']}/read", headers=login_as(world.parent))
    # The parent read the first: the window is closed, and ten messages race to open it.
    url = f"/conversations/{conversation['id']}/messages"
    answers = await asyncio.gather(
        *(
            client.post(url, headers=login_as(world.teacher), json={"text": f"Note {n}"})
            for n in range(10)
        )
    )
    assert [a.status_code for a in answers] == [201] * 10
    assert len(await message_notices(world.parent)) == 2
    assert len(await message_emails(world.parent)) == 2
    listed = (await client.get("/conversations", headers=login_as(world.parent))).json()
    assert listed["items"][0]["unread"] == 10
    page = (await client.get(url, headers=login_as(world.parent), params={"limit": 20})).json()
    assert len(page["items"]) == 11


async def test_preferences_pick_the_channels(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    assert world.school.id is not None and world.student.id is not None
    no_email = await make_user(
        Role.teacher,
        school_ids=[world.school.id],
        preferences=Preferences(email={"messages": EmailFrequency.off}),
    )
    no_inbox = await make_user(
        Role.teacher,
        school_ids=[world.school.id],
        preferences=Preferences(in_app={"messages": False}),
    )
    school = await School.get(world.school.id)
    assert school is not None and no_email.id is not None and no_inbox.id is not None
    school.classes[0].teachers += [
        TeacherAssignment(teacher_id=no_email.id, subjects=["art"]),
        TeacherAssignment(teacher_id=no_inbox.id, subjects=["music"]),
    ]
    await school.save()

    await started(client, login_as, world.parent, no_email)
    await started(client, login_as, world.parent, no_inbox)

    (notice,) = await message_notices(no_email)
    assert notice.in_app and await message_emails(no_email) == []
    (quiet,) = await message_notices(no_inbox)
    assert not quiet.in_app and len(await message_emails(no_inbox)) == 1
    count = await client.get("/notifications/unread-count", headers=login_as(no_inbox))
    assert count.json()["count"] == 0


async def test_inside_quiet_hours_a_burst_is_one_email_when_they_end(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    zone = ZoneInfo("Asia/Vladivostok")
    local = datetime.now(zone)
    start, end = local - timedelta(hours=1), local + timedelta(hours=2)
    sleeper = await make_user(
        Role.parent,
        timezone=zone.key,
        preferences=Preferences(
            quiet_hours=QuietHours(start=start.strftime("%H:%M"), end=end.strftime("%H:%M"))
        ),
    )
    assert sleeper.id is not None and world.student.id is not None
    await link_guardian(parent_id=sleeper.id, student_id=world.student.id)

    conversation = await started(client, login_as, world.teacher, sleeper, text="One")
    for text in ("Two", "Three"):
        await written(client, login_as, world.teacher, conversation["id"], text)

    (email,) = await message_emails(sleeper)
    assert email.status == EmailStatus.pending
    quiet_end = end.replace(second=0, microsecond=0)
    assert email.next_attempt_at == quiet_end
    assert len(await message_notices(sleeper)) == 1
