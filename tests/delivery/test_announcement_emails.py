"""Announcement emails: who receives one, what it says, and what critical overrides."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from app.auth.models import Role, User
from app.core.security import utcnow
from app.delivery.models import EmailStatus
from app.notifications import service as notifications
from app.notifications.access import follow_target
from app.notifications.models import TargetType
from app.schools.guardians import link_guardian
from tests.conftest import UserFactory, World
from tests.delivery.conftest import CountingSmtpServer
from tests.delivery.helpers import (
    html_of,
    only_message_to,
    outbox_of,
    received_by,
    text_of,
    unsubscribe_link,
)

Login = Callable[[User], dict[str, str]]


async def announce(
    client: httpx.AsyncClient, world: World, login_as: Login, **fields: Any
) -> dict[str, Any]:
    body = {"school_id": str(world.school.id), "title": "Open day", "body": "Saturday at ten"}
    response = await client.post(
        "/announcements", json={**body, **fields}, headers=login_as(world.admin)
    )
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()
    return result


async def set_preferences(
    client: httpx.AsyncClient, user: User, login_as: Login, **patch: Any
) -> None:
    response = await client.patch("/users/me/preferences", json=patch, headers=login_as(user))
    assert response.status_code == 200, response.text


def quiet_now(timezone: str) -> dict[str, str]:
    """A quiet window around the present moment in `timezone` (it may wrap past midnight)."""
    local = utcnow().astimezone(ZoneInfo(timezone))
    return {
        "start": (local - timedelta(hours=1)).strftime("%H:%M"),
        "end": (local + timedelta(hours=1)).strftime("%H:%M"),
    }


async def inbox_topics(client: httpx.AsyncClient, user: User, login_as: Login) -> list[str]:
    response = await client.get("/notifications", headers=login_as(user))
    assert response.status_code == 200, response.text
    return [item["topic"] for item in response.json()["items"]]


async def test_an_announcement_email_names_the_school_and_the_author(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    await announce(client, world, login_as, body="Bring your parents.\nDoors open at ten.")

    # The school's student and teacher; the admin wrote it; the parent follows nothing.
    assert len(smtp_server.envelopes) == 2
    assert received_by(smtp_server, world.admin.email) == []
    assert received_by(smtp_server, world.parent.email) == []
    for user in (world.student, world.teacher):
        message = only_message_to(smtp_server, user.email)
        assert message["Subject"] == "School 1: Open day"
        text = text_of(message)
        assert "Open day" in text and "Doors open at ten." in text
        assert f"{world.admin.full_name}, School 1" in text
        html = html_of(message)
        assert world.admin.full_name in html and "School 1" in html
        assert unsubscribe_link(message) in text


async def test_announcement_html_escapes_what_the_author_wrote(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    await announce(client, world, login_as, title="Fees <b>due</b>", body="<script>x()</script>")

    message = only_message_to(smtp_server, world.student.email)
    html = html_of(message)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>due</b>" not in html
    # The plain-text part and the subject keep the words as written.
    assert "<script>x()</script>" in text_of(message)
    assert message["Subject"] == "School 1: Fees <b>due</b>"


async def test_a_critical_announcement_overrides_off_quiet_hours_and_min_priority(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    parent = world.parent  # linked to the student, subscribed to nothing
    window = quiet_now("Asia/Vladivostok")
    for user in (parent, world.teacher):
        await User.get_motor_collection().update_one(
            {"_id": user.id}, {"$set": {"timezone": "Asia/Vladivostok"}}
        )
        await set_preferences(client, user, login_as, quiet_hours=window)
    await set_preferences(
        client,
        parent,
        login_as,
        email={"announcements": "off"},
        in_app={"announcements": False},
        min_priority="high",
    )

    await announce(client, world, login_as, title="Heating works", priority="high")
    # The same window holds a non-critical email back for the teacher: it is really quiet now.
    assert received_by(smtp_server, world.teacher.email) == []
    (deferred,) = await outbox_of(world.teacher)
    assert deferred.status == EmailStatus.pending and deferred.attempts == 0
    assert deferred.next_attempt_at > utcnow() + timedelta(minutes=59)

    await announce(client, world, login_as, title="School closed today", priority="critical")

    message = only_message_to(smtp_server, parent.email)
    assert message["Subject"] == "[Urgent] School 1: School closed today"
    assert f"{world.admin.full_name}, School 1" in text_of(message)
    assert "Urgent: School closed today" in html_of(message)
    (email,) = await outbox_of(parent)
    assert email.status == EmailStatus.sent
    # In-app was off too: critical shows up anyway, the high-priority one does not.
    assert await inbox_topics(client, parent, login_as) == ["announcements"]
    assert only_message_to(smtp_server, world.teacher.email)["Subject"] == (
        "[Urgent] School 1: School closed today"
    )


async def test_a_normal_announcement_is_not_critical_for_a_parent_who_turned_email_off(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    parent = world.parent
    assert parent.id and world.school.id
    target = await follow_target(parent, TargetType.school, world.school.id)
    await notifications.subscribe(user=parent, target=target)
    await set_preferences(client, parent, login_as, email={"announcements": "off"})

    await announce(client, world, login_as, priority="high")

    assert received_by(smtp_server, parent.email) == []
    assert await outbox_of(parent) == []
    assert await inbox_topics(client, parent, login_as) == ["announcements"]


async def test_below_min_priority_is_in_app_only(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    smtp_server: CountingSmtpServer,
) -> None:
    assert world.school.id and world.student.id
    picky = world.parent
    relaxed = await make_user(Role.parent)
    for parent in (picky, relaxed):
        assert parent.id
        await link_guardian(parent_id=parent.id, student_id=world.student.id)
    await set_preferences(client, picky, login_as, min_priority="high")
    await set_preferences(client, relaxed, login_as, min_priority="normal")

    await announce(client, world, login_as, title="Normal news", priority="normal")

    assert received_by(smtp_server, picky.email) == []
    assert await outbox_of(picky) == []
    assert await inbox_topics(client, picky, login_as) == ["announcements"]
    assert only_message_to(smtp_server, relaxed.email)["Subject"] == "School 1: Normal news"

    await announce(client, world, login_as, title="Important news", priority="high")

    assert only_message_to(smtp_server, picky.email)["Subject"] == "School 1: Important news"
    assert len(received_by(smtp_server, relaxed.email)) == 2
