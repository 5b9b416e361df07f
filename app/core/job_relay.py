"""The relay: sends again, every few seconds in each API process, every recorded job whose
lease ran out (its send failed, its broker lost it, or its worker died)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from beanie import PydanticObjectId

from app.core import db, job_records
from app.core.db import claim_many
from app.core.errors import StorageUnavailable
from app.core.job_dispatch import BROKER_BACKOFF_SECONDS, dispatch
from app.core.job_records import MAX_DISPATCHES, JobRecord
from app.core.job_running import stopped_by_storage
from app.core.security import as_utc, utcnow

log = logging.getLogger(__name__)

RELAY_INTERVAL_SECONDS = 5.0
# Records claimed by one relay pass in one update.
RELAY_BATCH = 200


async def relay_due_jobs(*, now: datetime | None = None, everything: bool = False) -> int:
    """Send every recorded job whose lease ran out, oldest lease first; with `everything`,
    every recorded job. Returns how many were sent.

    Records are claimed a batch at a time under a token naming this pass, so each is sent
    once per pass and two relays never send the same one; a claim is a few round trips
    whatever the batch, not one scan per job."""
    now = now or utcnow()
    token = uuid.uuid4().hex
    query: dict[str, Any] = {"dispatches": {"$lt": MAX_DISPATCHES}, "relay_token": {"$ne": token}}
    if not everything:
        query["lease_until"] = {"$lte": now}
    sent = 0
    while claimed := await claim_records(query, token=token, now=now, limit=RELAY_BATCH):
        for position, record in enumerate(claimed):
            if not await dispatch_claimed(record, now):
                # The broker is away: this one and the rest of the batch wait for the next pass.
                await due_again_after_backoff(claimed[position:], now)
                return sent
            sent += 1
    return sent


async def claim_records(
    query: dict[str, Any], *, token: str, now: datetime, limit: int
) -> list[JobRecord]:
    """Claim records to send again. Whoever took one before is presumed gone (its lease ran
    out), so the copy sent now may be taken."""
    raw = await claim_many(
        JobRecord,
        query,
        {
            "$set": {"lease_until": now + job_records.JOB_LEASE, "taken_at": None},
            "$inc": {"dispatches": 1},
        },
        token_field="relay_token",
        token=token,
        sort=[("lease_until", 1), ("created_at", 1)],
        limit=limit,
    )
    return [JobRecord.model_validate(document) for document in raw]


async def dispatch_claimed(record: JobRecord, now: datetime) -> bool:
    # Its lease counts from its own time, so a retry for later is not sent twice.
    if as_utc(record.not_before) > now:
        await db.update_one(
            JobRecord,
            {"_id": record.id},
            {"$set": {"lease_until": as_utc(record.not_before) + job_records.JOB_LEASE}},
        )
    if not await dispatch(record, now):
        return False
    if record.dispatches >= MAX_DISPATCHES:
        log.error(
            "job %s (%s) was sent %d times and never finished; no more tries",
            record.name,
            record.id,
            record.dispatches,
        )
    return True


async def due_again_after_backoff(records: list[JobRecord], now: datetime) -> None:
    await db.update_many(
        JobRecord,
        {"_id": {"$in": [record.id for record in records]}},
        {"$set": {"lease_until": now + timedelta(seconds=BROKER_BACKOFF_SECONDS)}},
    )


async def resend_stopped_by_storage() -> int:
    """Send again the jobs a database refusing writes stopped; returns how many were sent."""
    stopped = list(stopped_by_storage)
    if not stopped:
        return 0
    stopped_by_storage.difference_update(stopped)
    try:
        await db.update_many(
            JobRecord,
            {"_id": {"$in": [PydanticObjectId(i) for i in stopped]}},
            {"$set": {"lease_until": utcnow()}},
        )
        return await relay_due_jobs()
    except StorageUnavailable:  # still refused: the next pass tries again
        stopped_by_storage.update(stopped)
        return 0


class JobRelay:
    """Sends recorded jobs again every few seconds, in the API's process."""

    def __init__(self, interval_seconds: float = RELAY_INTERVAL_SECONDS) -> None:
        self.interval_seconds = interval_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_seconds)
            try:
                await resend_stopped_by_storage()
                await relay_due_jobs()
            except Exception:  # one failed pass must not stop the next
                log.exception("the job relay failed; trying again")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
