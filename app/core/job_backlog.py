"""The backlog a process takes over at its start: every job still recorded when the only
process on a database starts belongs to one that is gone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from app.core import db, job_records
from app.core.job_dispatch import BROKER_BACKOFF_SECONDS
from app.core.job_records import MAX_DISPATCHES, JobRecord
from app.core.job_relay import claim_records, dispatch_claimed, due_again_after_backoff
from app.core.job_running import finished_listeners
from app.core.security import as_utc, utcnow

log = logging.getLogger(__name__)

# Jobs of the backlog handed to the workers and not yet finished: the feeder keeps this many
# at most, so the backlog waits in the database (counted, and safe) rather than in an
# in-memory queue whose jobs would outlive their leases and be sent again.
BACKLOG_WINDOW = 40
# A backlog job that never reports back (its worker dropped it) stops counting after this.
BACKLOG_JOB_PATIENCE_SECONDS = 120.0
# Record id -> when it was handed on; filled by feed_backlog, emptied as each job ends.
_backlog_in_flight: dict[str, float] = {}
# Set as a backlog job ends; made by feed_backlog on its own event loop.
_backlog_progress: asyncio.Event | None = None


def _job_finished(record_id: str) -> None:
    if _backlog_in_flight.pop(record_id, None) is not None and _backlog_progress is not None:
        _backlog_progress.set()


finished_listeners.append(_job_finished)


async def take_over_recorded_jobs(*, now: datetime | None = None) -> str | None:
    """At the start of the only process on a database: every job still recorded belongs to
    a process that is gone. Marks them all as this start's backlog in one update (leased,
    so the relay leaves them to `feed_backlog`, and no longer taken by anyone); returns the
    backlog's token, None when there is none."""
    now = now or utcnow()
    token = f"backlog-{uuid.uuid4().hex}"
    written = await db.update_many(
        JobRecord,
        {"dispatches": {"$lt": MAX_DISPATCHES}},
        {
            "$set": {
                "relay_token": token,
                "lease_until": now + job_records.JOB_LEASE,
                "taken_at": None,
            }
        },
    )
    return token if written.modified else None


async def feed_backlog(token: str) -> int:
    """Hand the backlog taken over at start to the workers, oldest first, keeping at most
    BACKLOG_WINDOW of its jobs in flight; runs in the background while the API serves.
    Returns how many were sent."""
    global _backlog_progress
    _backlog_progress = asyncio.Event()
    _backlog_in_flight.clear()
    sent = 0
    last_extended = time.monotonic()
    backlog: dict[str, Any] = {"relay_token": token, "dispatches": {"$lt": MAX_DISPATCHES}}
    while True:
        await _wait_for_room()
        now = utcnow()
        lease = job_records.JOB_LEASE
        if time.monotonic() - last_extended > lease.total_seconds() / 2:
            # What is still waiting stays this feeder's, not the relay's.
            await db.update_many(JobRecord, backlog, {"$set": {"lease_until": now + lease}})
            last_extended = time.monotonic()
        room = BACKLOG_WINDOW - len(_backlog_in_flight)
        claimed = await claim_records(backlog, token=uuid.uuid4().hex, now=now, limit=max(1, room))
        if not claimed:
            log.info("the jobs recorded before this start are all sent (%d)", sent)
            return sent
        for position, record in enumerate(claimed):
            if as_utc(record.not_before) <= now:
                _backlog_in_flight[str(record.id)] = time.monotonic()
            if not await dispatch_claimed(record, now):
                _backlog_in_flight.pop(str(record.id), None)
                # The broker is away: the relay takes over all that is left, after the backoff.
                await due_again_after_backoff(claimed[position:], now)
                await db.update_many(
                    JobRecord,
                    backlog,
                    {"$set": {"lease_until": now + timedelta(seconds=BROKER_BACKOFF_SECONDS)}},
                )
                return sent
            sent += 1


async def _wait_for_room() -> None:
    while len(_backlog_in_flight) > BACKLOG_WINDOW // 2 and _backlog_progress is not None:
        _backlog_progress.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_backlog_progress.wait(), 1.0)
        stale = time.monotonic() - BACKLOG_JOB_PATIENCE_SECONDS
        for record_id, since in list(_backlog_in_flight.items()):
            if since < stale:
                _backlog_in_flight.pop(record_id, None)
