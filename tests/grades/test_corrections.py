"""The grace window of grade email, corrections and withdrawals, as the student and a parent
see them: in the inbox at once, and in the mail a real SMTP server receives. The clock is
the send job's own `now` (what the worker's sweep passes), never a sleep."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth.models import User
from app.core.config import Settings
from app.core.security import utcnow
from app.delivery.models import Email, EmailStatus
from app.delivery.service import send_emails
from tests.conftest import SmtpServer, World, make_settings
from tests.delivery.helpers import received_by, text_of
from tests.grades.helpers import days_ago, posted

LoginAs = Callable[[User], dict[str, str]]
WINDOW = timedelta(minutes=10)


@pytest.fixture
def settings(tmp_path: Path, smtp_server: SmtpServer) -> Settings:
    return make_settings(
        tmp_path / "data",
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        grade_notice_delay_minutes=10,
    )


@pytest.fixture
def teacher(world: World, login_as: LoginAs) -> dict[str, str]:
    """The headers of the world's teacher, who teaches the student maths."""
    return login_as(world.teacher)


@pytest.fixture
async def grade(
    client: httpx.AsyncClient, world: World, teacher: dict[str, str], parent: User
) -> dict[str, Any]:
    """A 2 in maths the teacher gave the student, with the parent already linked to hear of it."""
    return await posted(client, teacher, world, value=2)


async def send_at(moment: datetime) -> None:
    """What the worker does when its sweep runs at `moment`."""
    await send_emails(now=moment)


def mail(smtp: SmtpServer, user: User) -> list[EmailMessage]:
    return received_by(smtp, user.email)  # type: ignore[arg-type]


async def inbox(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[list[dict], int]:
    items = (await client.get("/notifications", headers=headers)).json()["items"]
    unread = (await client.get("/notifications/unread-count", headers=headers)).json()
    return items, unread["count"]


async def test_grade_email_waits_the_window_while_the_inbox_shows_it_at_once(
    client: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    parent: User,
    smtp_server: SmtpServer,
) -> None:
    await posted(client, login_as(world.teacher), world, value=4)
    posted_at = utcnow()
    items, unread = await inbox(client, login_as(parent))
    assert len(items) == 1 and items[0]["data"]["value"] == 4 and unread == 1
    await send_at(posted_at + WINDOW - timedelta(minutes=1))
    assert smtp_server.envelopes == []
    await send_at(posted_at + WINDOW + timedelta(seconds=5))
    for user in (world.student, parent):
        (message,) = mail(smtp_server, user)
        assert "Grade: 4" in text_of(message)


async def test_a_correction_inside_the_window_sends_one_email_with_the_final_value(
    client: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    parent: User,
    smtp_server: SmtpServer,
    teacher: dict[str, str],
    grade: dict[str, Any],
) -> None:
    response = await client.patch(f"/grades/{grade['id']}", json={"value": 4}, headers=teacher)
    assert response.status_code == 200
    corrected_at = utcnow()
    items, unread = await inbox(client, login_as(parent))
    assert [i["data"]["value"] for i in items] == [4] and unread == 1
    await send_at(corrected_at + WINDOW + timedelta(seconds=5))
    for user in (world.student, parent):
        (message,) = mail(smtp_server, user)
        text = text_of(message)
        assert str(message["Subject"]).startswith("New grade") and "Grade: 4" in text
        assert "Grade: 2" not in text and "changed" not in text
    assert await Email.find_all().count() == 2


async def test_a_grade_deleted_inside_the_window_sends_nothing_and_leaves_the_inbox(
    client: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    parent: User,
    smtp_server: SmtpServer,
    teacher: dict[str, str],
    grade: dict[str, Any],
) -> None:
    assert (await inbox(client, login_as(parent)))[1] == 1
    assert (await client.delete(f"/grades/{grade['id']}", headers=teacher)).status_code == 204
    assert await inbox(client, login_as(parent)) == ([], 0)
    assert await inbox(client, login_as(world.student)) == ([], 0)
    await send_at(utcnow() + 3 * WINDOW)
    assert smtp_server.envelopes == []
    assert await Email.find_all().count() == 0


async def test_a_correction_after_the_email_updates_the_item_and_sends_one_corrected_email(
    client: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    parent: User,
    smtp_server: SmtpServer,
    teacher: dict[str, str],
    grade: dict[str, Any],
) -> None:
    await send_at(utcnow() + WINDOW + timedelta(seconds=5))
    (before,), _ = await inbox(client, login_as(parent))
    assert len(mail(smtp_server, parent)) == 1

    response = await client.patch(f"/grades/{grade['id']}", json={"value": 4}, headers=teacher)
    assert response.status_code == 200
    (after,), unread = await inbox(client, login_as(parent))
    assert after["id"] == before["id"] and unread == 1
    assert after["data"]["value"] == 4 and after["data"]["changed"] is True
    # A correction waits the window too, so a second thought about it is still one email.
    await send_at(utcnow() + WINDOW + timedelta(seconds=5))
    for user in (world.student, parent):
        first, corrected = mail(smtp_server, user)
        assert "Grade: 2" in text_of(first)
        assert str(corrected["Subject"]).startswith("Grade changed in math")
        assert "A grade was changed" in text_of(corrected) and "Grade: 4" in text_of(corrected)
    await send_at(utcnow() + 5 * WINDOW)
    assert len(mail(smtp_server, parent)) == 2


async def test_a_grade_deleted_after_its_email_is_withdrawn_with_one_short_notice(
    client: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    parent: User,
    smtp_server: SmtpServer,
) -> None:
    teacher = login_as(world.teacher)
    kept = await posted(client, teacher, world, value=5, date=days_ago(world, 2))
    grade = await posted(client, teacher, world, value=2, date=days_ago(world, 1))
    await send_at(utcnow() + WINDOW + timedelta(seconds=5))
    assert len(mail(smtp_server, parent)) == 2
    assert (await inbox(client, login_as(parent)))[1] == 2

    assert (await client.delete(f"/grades/{grade['id']}", headers=teacher)).status_code == 204
    items, unread = await inbox(client, login_as(parent))
    assert [i["data"]["grade_id"] for i in items] == [kept["id"]] and unread == 1
    await send_at(utcnow() + timedelta(seconds=5))
    for user in (world.student, parent):
        *_, withdrawn = mail(smtp_server, user)
        assert str(withdrawn["Subject"]).startswith("Grade withdrawn in math")
        text = text_of(withdrawn)
        assert "was withdrawn" in text and "Grade: 2" not in text
    assert len(mail(smtp_server, parent)) == 3
    # Deleting is final: nothing more arrives later.
    await send_at(utcnow() + 5 * WINDOW)
    assert len(mail(smtp_server, parent)) == 3
    statuses = {e.status for e in await Email.find_all().to_list()}
    assert statuses == {EmailStatus.sent}


async def test_withdrawal_in_russian(
    client: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    parent: User,
    smtp_server: SmtpServer,
) -> None:
    await parent.set({"locale": "ru"})
    teacher = login_as(world.teacher)
    grade = await posted(client, teacher, world, value=2)
    await send_at(utcnow() + WINDOW + timedelta(seconds=5))
    await client.delete(f"/grades/{grade['id']}", headers=teacher)
    await send_at(utcnow() + timedelta(seconds=5))
    _, withdrawn = mail(smtp_server, parent)
    assert str(withdrawn["Subject"]).startswith("Оценка отменена по предмету «math»")
    assert "отменена" in text_of(withdrawn)


async def test_no_window_when_it_is_off(
    client: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    parent: User,
    smtp_server: SmtpServer,
    settings: Settings,
) -> None:
    settings.grade_notice_delay_minutes = 0
    await posted(client, login_as(world.teacher), world, value=3)
    assert len(mail(smtp_server, parent)) == 1
