"""A mail server that answers the end of a message late, and one that drops every third
message's connection, against the real send path (aiosmtpd, the outbox on mongomock). Each
test prints what it measured: lost, duplicated, time to drain."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.core.security import utcnow
from app.delivery import service as delivery
from app.delivery.models import Email, EmailStatus
from app.delivery.sending import SendReport
from tests.conftest import make_settings, running
from tests.delivery.faulty_smtp import FaultySmtp
from tests.delivery.helpers import put_email

pytestmark = pytest.mark.slow

LATER = datetime(2031, 5, 1, 8, 0, tzinfo=UTC)
# Longer than the fixed 15 s the client used to give every reply, the end of DATA included.
SLOW_FINAL_REPLY = 16.0


@pytest.fixture
def smtp_server() -> Iterator[FaultySmtp]:
    with running(FaultySmtp()) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, smtp_server: FaultySmtp) -> Settings:
    # The defaults: 15 s for commands, 10 minutes for the end of a message, 100 emails/s.
    return make_settings(tmp_path / "data", smtp_host="127.0.0.1", smtp_port=smtp_server.port)


def lost_and_duplicated(smtp: FaultySmtp, wanted: list[str]) -> tuple[int, int]:
    counts = smtp.by_recipient()
    return len(set(wanted) - set(counts)), sum(n - 1 for n in counts.values() if n > 1)


async def send_now() -> tuple[float, SendReport]:
    """One send job on the real clock, as the broadcast's write asks for: its seconds and
    report. Whatever it leaves waits for a backoff, which a broadcast must not need."""
    started = time.perf_counter()
    report = await delivery.send_emails()
    return time.perf_counter() - started, report


async def test_a_final_reply_after_16_s_is_awaited_and_no_email_goes_twice(
    app: FastAPI, smtp_server: FaultySmtp
) -> None:
    smtp_server.final_reply_delay = SLOW_FINAL_REPLY
    wanted = [f"teacher{n}@example.org" for n in range(3)]
    for n, address in enumerate(wanted):
        await put_email(address, key=f"slow:{n}", due=LATER + timedelta(seconds=n))

    started = time.perf_counter()
    report = await delivery.send_emails(now=LATER + timedelta(minutes=1))
    drained = time.perf_counter() - started
    # What the sweep and later jobs do next: a message the server took late must not go again.
    await delivery.sweep(now=LATER + timedelta(hours=3))
    await delivery.send_emails(now=LATER + timedelta(hours=3))
    await asyncio.sleep(2)  # a copy a given-up send left on the server would arrive by now

    lost, duplicated = lost_and_duplicated(smtp_server, wanted)
    print(
        f"\nfinal reply after {SLOW_FINAL_REPLY:.0f} s: {len(wanted)} emails, "
        f"{len(smtp_server.received)} received; lost {lost}, duplicated {duplicated}, "
        f"drained in {drained:.1f} s (delivered {report.delivered}, deferred "
        f"{report.deferred}, lost {report.lost})"
    )
    assert (lost, duplicated) == (0, 0)
    assert report.delivered == len(wanted)
    assert await Email.find({"status": EmailStatus.sent, "attempts": 1}).count() == len(wanted)


async def test_a_broadcast_with_every_third_connection_dropped_drains_at_half_the_clean_rate(
    app: FastAPI, smtp_server: FaultySmtp
) -> None:
    recipients = 150
    clean = [f"clean{n}@example.org" for n in range(recipients)]
    for n, address in enumerate(clean):
        await put_email(address, key=f"clean:{n}", due=utcnow() - timedelta(seconds=1))
    clean_seconds, _ = await send_now()
    assert smtp_server.by_recipient() == {address: 1 for address in clean}

    smtp_server.received.clear()
    smtp_server.drop_every = 3
    faulty = [f"parent{n}@example.org" for n in range(recipients)]
    for n, address in enumerate(faulty):
        await put_email(address, key=f"faulty:{n}", due=utcnow() - timedelta(seconds=1))
    faulty_seconds, report = await send_now()

    lost, duplicated = lost_and_duplicated(smtp_server, faulty)
    attempts = [email.attempts for email in await Email.find({"to": {"$in": faulty}}).to_list()]
    clean_rate, faulty_rate = recipients / clean_seconds, recipients / faulty_seconds
    print(
        f"\nevery third message's connection dropped: {recipients} emails, "
        f"{len(smtp_server.dropped)} drops, {smtp_server.connections} connections; lost {lost}, "
        f"duplicated {duplicated}; drained in {faulty_seconds:.2f} s against "
        f"{clean_seconds:.2f} s clean ({faulty_rate:.0f}/s against {clean_rate:.0f}/s at the "
        f"default quota of 100/s, ratio {faulty_rate / clean_rate:.2f}); job report {report}"
    )
    assert (lost, duplicated) == (0, 0)
    assert report.delivered == recipients and not report.deferred and not report.lost
    assert len(smtp_server.dropped) == recipients // 3
    # An attempt for every drop, and one for each delivery: nobody else paid for a drop.
    assert sum(attempts) == recipients + len(smtp_server.dropped)
    assert faulty_rate >= clean_rate / 2
