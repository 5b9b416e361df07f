"""A mail server that misbehaves: no greeting, a slow final reply, 421, a connection dropped at
the end of a message, a 550 for one recipient. What each costs the batch, which email is
charged an attempt, what the job reports and what the logs and /metrics say."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.core import jobs
from app.core.config import Settings
from app.core.security import utcnow
from app.delivery import gauges
from app.delivery import service as delivery
from app.delivery.models import Email, EmailStatus
from tests.conftest import make_settings, running
from tests.delivery.faulty_smtp import FaultySmtp, SilentServer
from tests.delivery.helpers import put_email, reload
from tests.delivery.test_metrics import scrape, value

LATER = datetime(2031, 5, 1, 8, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
# Short clocks, so a fault shows in a second or two: the server's greeting and commands get
# COMMAND_TIMEOUT, the reply to the end of a message DATA_TIMEOUT.
COMMAND_TIMEOUT = 1
DATA_TIMEOUT = 4


@pytest.fixture
def smtp_server() -> Iterator[FaultySmtp]:
    with running(FaultySmtp()) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, smtp_server: FaultySmtp) -> Settings:
    return make_settings(
        tmp_path / "data",
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_timeout_seconds=COMMAND_TIMEOUT,
        smtp_data_timeout_seconds=DATA_TIMEOUT,
    )


async def three_emails(prefix: str) -> list[Email]:
    """Three emails due one after another, so one connection sends them in this order."""
    return [
        await put_email(f"{prefix}{n}@example.org", key=f"{prefix}:{n}", due=LATER + n * SECOND)
        for n in range(3)
    ]


def job_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "schoolbell.job"]


async def test_a_final_reply_slower_than_the_command_timeout_is_awaited_and_sent_once(
    app: FastAPI, smtp_server: FaultySmtp
) -> None:
    # Twice the time the greeting and commands may take, well within the DATA timeout.
    smtp_server.final_reply_delay = 2 * COMMAND_TIMEOUT
    emails = await three_emails("slow")

    report = await delivery.send_emails(now=LATER + timedelta(minutes=1))

    assert (report.delivered, report.deferred, report.lost) == (3, 0, 0)
    assert smtp_server.by_recipient() == {f"slow{n}@example.org": 1 for n in range(3)}
    for email in emails:
        sent = await reload(email)
        assert (sent.status, sent.attempts, sent.last_error) == (EmailStatus.sent, 1, None)


async def test_no_reply_within_the_data_timeout_is_an_unknown_outcome_not_resent_early(
    app: FastAPI, settings: Settings, smtp_server: FaultySmtp
) -> None:
    smtp_server.final_reply_delay = DATA_TIMEOUT + 1
    first, *rest = await three_emails("tarpit")
    now = LATER + timedelta(minutes=1)

    report = await delivery.send_emails(now=now)

    assert (report.delivered, report.deferred, report.lost) == (0, 3, 0)
    first = await reload(first)
    assert (first.status, first.attempts) == (EmailStatus.failed, 1)
    assert first.last_error is not None
    assert f"within {DATA_TIMEOUT} s" in first.last_error
    assert "may have been delivered" in first.last_error
    assert f"127.0.0.1:{settings.smtp_port}" in first.last_error
    # Not before its backoff (30 s ± 20 %), however soon the next job runs.
    assert first.next_attempt_at >= now + timedelta(seconds=24)
    # The server in trouble stopped the run: the others were handed back, not charged.
    assert [((await reload(e)).status, (await reload(e)).attempts) for e in rest] == [
        (EmailStatus.pending, 0)
    ] * 2
    smtp_server.final_reply_delay = 0
    assert (await delivery.send_emails(now=first.next_attempt_at - SECOND)).delivered == 2
    assert (await reload(first)).status == EmailStatus.failed


async def test_no_greeting_stops_the_run_and_the_error_names_the_mail_server(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from mongomock_motor import AsyncMongoMockClient

    from app.main import create_app

    caplog.set_level(logging.INFO)
    with running(SilentServer()) as silent:
        settings = make_settings(
            tmp_path / "data",
            smtp_host="127.0.0.1",
            smtp_port=silent.port,
            smtp_timeout_seconds=COMMAND_TIMEOUT,
            smtp_data_timeout_seconds=DATA_TIMEOUT,
        )
        application = create_app(settings, mongo_client=AsyncMongoMockClient(tz_aware=True))
        async with application.router.lifespan_context(application):
            first, *rest = await three_emails("nobody")
            started = asyncio.get_running_loop().time()
            report = await jobs.run(
                delivery.SEND_JOB, {"now": LATER + timedelta(minutes=1)}, request_id=None
            )
            waited = asyncio.get_running_loop().time() - started
            first = await reload(first)
            rest = [await reload(email) for email in rest]
        assert silent.connections == 1  # one try, not one per connection or per email

    server = f"127.0.0.1:{silent.port}"
    assert (first.status, first.attempts) == (EmailStatus.failed, 1)
    assert first.last_error is not None and server in first.last_error
    assert "credentials" not in first.last_error
    assert [(e.status, e.attempts) for e in rest] == [(EmailStatus.pending, 0)] * 2
    assert (report.delivered, report.deferred, report.lost) == (0, 3, 0)
    # Given up on the greeting's own clock, not the 10 minutes a final reply may take.
    assert waited < DATA_TIMEOUT
    failures = [r for r in caplog.records if r.name == "app.delivery.service"]
    assert failures and all(server in r.getMessage() for r in failures)
    [line] = job_lines(caplog)
    assert line.levelno == logging.WARNING
    assert "delivery.send_emails undelivered" in line.getMessage()
    assert "delivered=0 deferred=3 lost=0" in line.getMessage()


async def test_after_a_421_the_next_email_goes_on_a_new_connection_without_being_charged(
    app: FastAPI, settings: Settings, smtp_server: FaultySmtp
) -> None:
    first, refused, after = await three_emails("busy")
    smtp_server.unavailable_once.add("busy1@example.org")

    report = await delivery.send_emails(now=LATER + timedelta(minutes=1))

    # The email after the 421 is not charged for the connection the server closed.
    for email in (first, after):
        sent = await reload(email)
        assert (sent.status, sent.attempts, sent.last_error) == (EmailStatus.sent, 1, None)
    assert smtp_server.connections == 2  # the one the 421 closed, and a new one
    assert (report.delivered, report.deferred, report.lost) == (2, 1, 0)
    refused = await reload(refused)
    assert (refused.status, refused.attempts) == (EmailStatus.failed, 1)
    assert refused.last_error is not None and "421 4.3.2" in refused.last_error
    assert f"127.0.0.1:{settings.smtp_port}" in refused.last_error

    assert (await delivery.send_emails(now=refused.next_attempt_at)).delivered == 1
    assert smtp_server.by_recipient() == {f"busy{n}@example.org": 1 for n in range(3)}


async def test_a_421_to_the_end_of_a_message_costs_the_next_email_nothing(
    app: FastAPI, smtp_server: FaultySmtp
) -> None:
    first, refused, after = await three_emails("closing")
    smtp_server.unavailable_at_end_once.add("closing1@example.org")

    report = await delivery.send_emails(now=LATER + timedelta(minutes=1))

    assert (report.delivered, report.deferred, report.lost) == (2, 1, 0)
    assert [((await reload(e)).status, (await reload(e)).attempts) for e in (first, after)] == [
        (EmailStatus.sent, 1)
    ] * 2
    refused = await reload(refused)
    assert (refused.status, refused.attempts) == (EmailStatus.failed, 1)
    assert refused.last_error is not None and refused.last_error.startswith("SMTP 421")


async def test_a_connection_dropped_at_the_end_of_a_message_is_reopened_and_the_batch_goes_on(
    app: FastAPI, smtp_server: FaultySmtp
) -> None:
    smtp_server.drop_every = 3  # the third message's connection breaks under it
    first, after, dropped = await three_emails("drop")

    report = await delivery.send_emails(now=LATER + timedelta(minutes=1))

    assert smtp_server.dropped == ["drop2@example.org"]
    assert (report.delivered, report.deferred, report.lost) == (3, 0, 0)
    assert smtp_server.by_recipient() == {f"drop{n}@example.org": 1 for n in range(3)}
    assert smtp_server.connections == 2
    # The dropped one went again on a new connection: two attempts; the others one each.
    assert [(await reload(e)).attempts for e in (first, after, dropped)] == [1, 1, 2]
    assert [(await reload(e)).status for e in (first, after, dropped)] == [EmailStatus.sent] * 3


async def test_an_email_whose_connection_always_drops_waits_for_its_retry_alone(
    app: FastAPI, settings: Settings, smtp_server: FaultySmtp
) -> None:
    smtp_server.drop_for.add("drop1@example.org")
    first, dropped, after = await three_emails("drop")

    report = await delivery.send_emails(now=LATER + timedelta(minutes=1))

    assert (report.delivered, report.deferred, report.lost) == (2, 1, 0)
    dropped = await reload(dropped)
    assert (dropped.status, dropped.attempts) == (EmailStatus.failed, 2)
    assert dropped.last_error is not None and "dropped" in dropped.last_error
    assert f"127.0.0.1:{settings.smtp_port}" in dropped.last_error
    assert [(await reload(e)).status for e in (first, after)] == [EmailStatus.sent] * 2


async def test_a_550_recipient_is_dead_with_the_reason_and_the_job_says_one_was_lost(
    app: FastAPI, settings: Settings, smtp_server: FaultySmtp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    first, refused, after = await three_emails("who")
    smtp_server.refuse.add("who1@example.org")

    report = await jobs.run(
        delivery.SEND_JOB, {"now": LATER + timedelta(minutes=1)}, request_id=None
    )

    assert (report.delivered, report.deferred, report.lost) == (2, 0, 1)
    refused = await reload(refused)
    assert (refused.status, refused.attempts) == (EmailStatus.dead, 1)
    assert refused.last_error is not None and "550" in refused.last_error
    assert f"127.0.0.1:{settings.smtp_port}" in refused.last_error
    assert smtp_server.by_recipient() == {"who0@example.org": 1, "who2@example.org": 1}
    [line] = job_lines(caplog)
    assert line.levelno == logging.WARNING
    assert "delivery.send_emails partial" in line.getMessage()
    assert "delivered=2 deferred=0 lost=1" in line.getMessage()


async def test_a_job_that_delivered_everything_says_so(
    app: FastAPI, smtp_server: FaultySmtp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await three_emails("fine")

    await jobs.run(delivery.SEND_JOB, {"now": LATER + timedelta(minutes=1)}, request_id=None)

    [line] = job_lines(caplog)
    assert line.levelno == logging.INFO
    assert "delivery.send_emails succeeded" in line.getMessage()
    assert "delivered=3 deferred=0 lost=0" in line.getMessage()


async def test_a_slow_server_never_lets_the_sweep_hand_an_email_on_the_wire_to_another_sender(
    app: FastAPI, smtp_server: FaultySmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A lease far shorter than the final reply takes: only its renewal keeps the claim.
    monkeypatch.setattr(delivery, "LEASE", timedelta(seconds=0.6))
    smtp_server.final_reply_delay = 2.5
    email = await put_email("patient@example.org", key="patient", due=utcnow() - SECOND)

    sending = asyncio.create_task(delivery.send_emails())
    await asyncio.sleep(1.5)  # past the first lease, the reply still to come
    # What beat's sweep does every minute; it would send an orphan again at once.
    await delivery.sweep()
    report = await sending

    assert report.delivered == 1
    assert smtp_server.by_recipient() == {"patient@example.org": 1}
    sent = await reload(email)
    assert (sent.status, sent.attempts) == (EmailStatus.sent, 1)


async def test_the_oldest_due_age_keeps_growing_while_mail_is_stuck(
    client: httpx.AsyncClient,
) -> None:
    ten_minutes_ago = utcnow() - timedelta(minutes=10)
    being_sent = await put_email("a@example.org", key="being-sent", due=ten_minutes_ago)
    await Email.get_motor_collection().update_one(
        {"_id": being_sent.id}, {"$set": {"status": EmailStatus.sending}}
    )
    age = value(await scrape(client), "schoolbell_outbox_oldest_due_age_seconds")
    assert 600 <= age < 700  # on the wire to a server that has not answered

    # Failed and waiting for its retry: still the same wait, not a fresh one.
    await Email.get_motor_collection().update_one(
        {"_id": being_sent.id},
        {
            "$set": {
                "status": EmailStatus.failed,
                "next_attempt_at": utcnow() + timedelta(minutes=2),
            }
        },
    )
    age = value(await scrape(client), "schoolbell_outbox_oldest_due_age_seconds")
    assert 600 <= age < 700


async def test_an_email_written_before_due_at_existed_counts_once_migrated(
    client: httpx.AsyncClient,
) -> None:
    waiting = await put_email("old@example.org", key="old", due=utcnow() - timedelta(minutes=10))
    await Email.get_motor_collection().update_one(
        {"_id": waiting.id}, {"$unset": {"due_at": ""}, "$set": {"status": EmailStatus.failed}}
    )

    await gauges.backfill_due_at()

    age = value(await scrape(client), "schoolbell_outbox_oldest_due_age_seconds")
    assert 600 <= age < 700
