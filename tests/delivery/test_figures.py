"""Email figures: an announcement's stats and GET /stats count sent, dead and pending emails."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from app.auth.models import User
from app.core.security import utcnow
from app.delivery import service as delivery
from app.delivery.models import Email, EmailStatus
from app.notifications import service as notifications
from app.notifications.access import follow_target
from app.notifications.models import TargetType
from app.schools.models import School
from tests.conftest import World
from tests.delivery.conftest import CountingSmtpServer
from tests.delivery.helpers import only_message_to, outbox_of
from tests.grades.helpers import posted

Login = Callable[[User], dict[str, str]]
ZONE = ZoneInfo("Europe/Moscow")


async def announcement_stats(
    client: httpx.AsyncClient, world: World, login_as: Login, announcement_id: str
) -> dict[str, Any]:
    response = await client.get(f"/announcements/{announcement_id}", headers=login_as(world.admin))
    assert response.status_code == 200, response.text
    stats: dict[str, Any] = response.json()["stats"]
    return stats


async def email_figures(client: httpx.AsyncClient, world: World, login_as: Login) -> Any:
    response = await client.get("/stats", headers=login_as(world.admin))
    assert response.status_code == 200, response.text
    return response.json()["emails_last_24h"]


async def test_figures_count_sent_dead_and_pending_emails(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    # The student's email goes, the teacher's is refused for good, and the parent's waits
    # for the end of their quiet hours.
    assert world.school.id
    smtp_server.refuse.add(world.teacher.email)
    target = await follow_target(world.parent, TargetType.school, world.school.id)
    await notifications.subscribe(user=world.parent, target=target)
    local = utcnow().astimezone(ZONE)
    window = {
        "start": (local - timedelta(hours=1)).strftime("%H:%M"),
        "end": (local + timedelta(hours=1)).strftime("%H:%M"),
    }
    await User.get_motor_collection().update_one(
        {"_id": world.parent.id}, {"$set": {"timezone": ZONE.key}}
    )
    response = await client.patch(
        "/users/me/preferences", json={"quiet_hours": window}, headers=login_as(world.parent)
    )
    assert response.status_code == 200, response.text

    posted_announcement = await client.post(
        "/announcements",
        json={"school_id": str(world.school.id), "title": "Fair", "body": "On Sunday"},
        headers=login_as(world.admin),
    )
    assert posted_announcement.status_code == 202, posted_announcement.text
    announcement_id = posted_announcement.json()["id"]

    stats = await announcement_stats(client, world, login_as, announcement_id)
    assert stats["recipients"] == 3
    assert (stats["email_sent"], stats["email_failed"], stats["email_pending"]) == (1, 1, 1)
    assert await email_figures(client, world, login_as) == {
        "pending": 1,
        "sending": 0,
        "sent": 1,
        "failed": 0,
        "dead": 1,
    }

    # A grade's email counts in the school's figures, not in the announcement's.
    await posted(client, login_as(world.teacher), world)
    assert (await email_figures(client, world, login_as))["sent"] == 2
    stats = await announcement_stats(client, world, login_as, announcement_id)
    assert stats["email_sent"] == 1

    # The quiet hours end: the pending email goes and the figures follow.
    (waiting,) = await outbox_of(world.parent)
    assert waiting.status == EmailStatus.pending
    assert (await delivery.send_emails(now=waiting.next_attempt_at)).delivered == 1
    only_message_to(smtp_server, world.parent.email)
    stats = await announcement_stats(client, world, login_as, announcement_id)
    assert (stats["email_sent"], stats["email_failed"], stats["email_pending"]) == (2, 1, 0)

    # Only the last 24 hours count in /stats.
    await Email.get_motor_collection().update_many(
        {"to": world.teacher.email}, {"$set": {"created_at": utcnow() - timedelta(hours=25)}}
    )
    assert await email_figures(client, world, login_as) == {
        "pending": 0,
        "sending": 0,
        "sent": 3,
        "failed": 0,
        "dead": 0,
    }


async def test_another_schools_emails_are_not_in_the_figures(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    other = School(name="Other school")
    await other.insert()
    await posted(client, login_as(world.teacher), world)
    assert (await email_figures(client, world, login_as))["sent"] == 1
    # The same email, had it been another school's.
    await Email.get_motor_collection().update_many({}, {"$set": {"school_id": other.id}})

    assert (await email_figures(client, world, login_as))["sent"] == 0
