"""The global sending rate: a small limit slows a run down but loses and doubles nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.core.config import Settings
from app.delivery import service as delivery
from tests.conftest import make_settings
from tests.delivery.conftest import CountingSmtpServer
from tests.delivery.helpers import put_email

LATER = datetime(2031, 5, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path, smtp_server: CountingSmtpServer) -> Settings:
    # Two a second: a run of five has to wait for the window at least twice.
    return make_settings(
        tmp_path / "data",
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        email_rate_per_second=2,
    )


async def test_a_tiny_rate_delays_a_run_but_sends_everything_once(
    app: FastAPI, smtp_server: CountingSmtpServer
) -> None:
    addresses = [f"rate{n}@example.org" for n in range(5)]
    for n, address in enumerate(addresses):
        await put_email(address, key=f"rate:{n}", due=LATER)

    assert (await delivery.send_emails(now=LATER)).delivered == 5

    assert sorted(str(m["To"]) for m in smtp_server.messages) == addresses
    assert smtp_server.connections == 1


async def test_the_rate_window_is_shared_by_workers_through_redis(
    tmp_path: Path, redis_url: str
) -> None:
    settings = make_settings(tmp_path / "data", redis_url=redis_url, email_rate_per_second=2)
    # Two slots taken by this worker...
    slots = delivery.SendingSlots(settings)
    await slots.take(still_to_send=2)
    await slots.take(still_to_send=1)
    # ...leave none in this second for a worker in another process (its own connection).
    other_worker = MovingWindowRateLimiter(storage_from_string(redis_url))
    assert not other_worker.hit(parse("2/second"), "schoolbell", "email")
