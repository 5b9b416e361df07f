"""Transient failures: the SMTP server goes away, the email waits on backoff, then goes once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from app.auth.models import User
from app.core.security import utcnow
from app.delivery import service as delivery
from app.delivery.models import EmailStatus
from tests.conftest import World
from tests.delivery.conftest import CountingSmtpServer
from tests.delivery.helpers import only_message_to, outbox_of, put_email, received_by, reload
from tests.grades.helpers import posted

Login = Callable[[User], dict[str, str]]
LATER = datetime(2031, 5, 1, 8, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


async def test_a_grade_mailed_while_the_server_is_down_arrives_once_it_is_back(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    smtp_server.stop()
    before = utcnow()
    # The request does not wait for, or fail with, the mail server.
    await posted(client, login_as(world.teacher), world)
    after = utcnow()

    (email,) = await outbox_of(world.student)
    assert email.status == EmailStatus.failed
    assert email.attempts == 1
    assert email.last_error and email.last_error.startswith("connection:")
    assert email.lease_until is None and email.sent_at is None
    # 30 s ± 20 % jitter after the failed attempt.
    assert before + timedelta(seconds=24) <= email.next_attempt_at <= after + timedelta(seconds=36)

    smtp_server.start()
    assert (await delivery.send_emails(now=email.next_attempt_at - SECOND)).delivered == 0
    assert smtp_server.envelopes == []

    now = email.next_attempt_at.replace(microsecond=0) + 2 * SECOND
    assert (await delivery.send_emails(now=now)).delivered == 1
    sent = await reload(email)
    assert sent.status == EmailStatus.sent
    assert sent.sent_at == now
    assert sent.attempts == 2
    assert sent.last_error is None

    # Nothing left for a sweep or a later run to send again.
    await delivery.sweep(now=utcnow())
    assert (await delivery.send_emails(now=now + timedelta(hours=3))).delivered == 0
    only_message_to(smtp_server, world.student.email)


async def test_backoff_grows_until_the_last_attempt_makes_the_email_dead(
    app: FastAPI, smtp_server: CountingSmtpServer
) -> None:
    email = await put_email("someone@example.org", key="backoff", due=LATER)
    smtp_server.stop()

    moment = LATER
    delays: list[float] = []
    for attempt, base in enumerate(delivery.BACKOFF_SECONDS, start=1):
        assert (await delivery.send_emails(now=moment)).delivered == 0
        email = await reload(email)
        assert (email.status, email.attempts) == (EmailStatus.failed, attempt)
        delay = (email.next_attempt_at - moment).total_seconds()
        assert 0.8 * base <= delay <= 1.2 * base + 0.001
        delays.append(delay)
        # Not due a moment early.
        assert (await delivery.send_emails(now=email.next_attempt_at - SECOND)).delivered == 0
        assert (await reload(email)).attempts == attempt
        moment = email.next_attempt_at
    assert delays == sorted(delays) and len(set(delays)) == len(delays)

    assert (await delivery.send_emails(now=moment)).delivered == 0
    email = await reload(email)
    assert email.status == EmailStatus.dead
    assert email.attempts == delivery.MAX_ATTEMPTS == 6
    assert email.last_error and email.last_error.startswith("connection:")

    # Dead stays dead: the server coming back, a sweep and a later run send nothing.
    smtp_server.start()
    await delivery.sweep(now=moment + timedelta(days=1))
    assert (await delivery.send_emails(now=moment + timedelta(days=1))).delivered == 0
    assert smtp_server.envelopes == []


async def test_a_refused_connection_ends_the_run_without_using_up_other_emails_attempts(
    app: FastAPI, smtp_server: CountingSmtpServer
) -> None:
    emails = [
        await put_email(f"pupil{n}@example.org", key=f"run:{n}", due=LATER + n * SECOND)
        for n in range(3)
    ]
    smtp_server.stop()

    assert (await delivery.send_emails(now=LATER + timedelta(minutes=1))).delivered == 0

    first, *rest = [await reload(e) for e in emails]
    assert (first.status, first.attempts) == (EmailStatus.failed, 1)
    assert [(e.status, e.attempts) for e in rest] == [(EmailStatus.pending, 0)] * 2

    smtp_server.start()
    assert (await delivery.send_emails(now=LATER + timedelta(hours=1))).delivered == 3
    for n in range(3):
        only_message_to(smtp_server, f"pupil{n}@example.org")
    assert smtp_server.connections == 1


async def test_mail_from_before_and_during_an_outage_arrives_exactly_once(
    app: FastAPI, smtp_server: CountingSmtpServer
) -> None:
    for n in range(2):
        await put_email(f"early{n}@example.org", key=f"early:{n}", due=LATER)
    assert (await delivery.send_emails(now=LATER)).delivered == 2

    smtp_server.stop()
    for n in range(2):
        await put_email(f"late{n}@example.org", key=f"late:{n}", due=LATER + SECOND)
    assert (await delivery.send_emails(now=LATER + SECOND)).delivered == 0
    smtp_server.start()
    assert (await delivery.send_emails(now=LATER + timedelta(hours=1))).delivered == 2

    for address in ("early0", "early1", "late0", "late1"):
        assert len(received_by(smtp_server, f"{address}@example.org")) == 1


async def test_a_4xx_recipient_is_retried_later_while_the_rest_of_the_run_goes_out(
    app: FastAPI, smtp_server: CountingSmtpServer
) -> None:
    smtp_server.defer.add("busy@example.org")
    busy = await put_email("busy@example.org", key="busy", due=LATER)
    await put_email("free@example.org", key="free", due=LATER + SECOND)

    assert (await delivery.send_emails(now=LATER + timedelta(minutes=1))).delivered == 1

    busy = await reload(busy)
    assert (busy.status, busy.attempts) == (EmailStatus.failed, 1)
    assert busy.last_error and "451" in busy.last_error
    assert only_message_to(smtp_server, "free@example.org")

    smtp_server.defer.clear()
    assert (await delivery.send_emails(now=busy.next_attempt_at)).delivered == 1
    only_message_to(smtp_server, "busy@example.org")
    assert (await reload(busy)).status == EmailStatus.sent
