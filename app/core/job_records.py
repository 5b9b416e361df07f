"""The `jobs` collection: a record per job asked for and not yet done, and its lease.

A record's lease says when the relay may send the job again. It is set when the job is
sent, and set afresh when a worker takes the job: a job waiting in a long queue is never run
a second time because its lease ran out while it waited. A copy of a job whose record is
gone (it ran) or held by a worker whose lease still runs is dropped when a worker takes it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import Field

from app.core import db
from app.core.db import aggregate
from app.core.job_registry import DEFAULT_QUEUE, EMAIL_QUEUE, FANOUT_QUEUE, JOBS
from app.core.logs import current_request_id
from app.core.security import utcnow

# The keyword that carries the outbox record's id to the job runner.
RECORD_ID = "outbox_job_id"
# A job sent (or taken by a worker) this long ago whose record is still there did not run,
# or its worker died: send it again. Read as `job_records.JOB_LEASE` everywhere, so a test
# may shorten it in one place.
JOB_LEASE = timedelta(minutes=10)
# A job sent this many times without finishing is left for a person to look at.
MAX_DISPATCHES = 20


class JobRecord(Document):
    """A job asked for and not yet done."""

    name: str
    kwargs: dict[str, Any] = Field(default_factory=dict)
    # The job must not run before this (a retry's own time).
    not_before: datetime = Field(default_factory=utcnow)
    # The relay sends the job (again) once this has passed.
    lease_until: datetime = Field(default_factory=utcnow)
    # When a worker took it and is running it; None while it waits to be taken.
    taken_at: datetime | None = None
    dispatches: int = 0
    # The request that asked for it, so the job's log lines carry its id even when the
    # relay sends it later.
    request_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    # Names the relay pass (or the backlog being fed at a start) that holds the record now.
    relay_token: str | None = None

    class Settings:
        name = "jobs"
        indexes = [
            pymongo.IndexModel([("lease_until", 1)], name="due"),
            # The relay's order: oldest lease first, then oldest record.
            pymongo.IndexModel([("lease_until", 1), ("created_at", 1)], name="due_in_order"),
            # A start's backlog, fed in the same order.
            pymongo.IndexModel(
                [("relay_token", 1), ("lease_until", 1), ("created_at", 1)], name="backlog_in_order"
            ),
        ]


def new_record(name: str, *, countdown: float = 0, **kwargs: Any) -> JobRecord:
    """A record of the job `name`, not yet written."""
    if name not in JOBS:
        raise KeyError(f"unknown job {name!r}")
    not_before = utcnow() + timedelta(seconds=max(0.0, countdown))
    return JobRecord(
        name=name,
        kwargs=kwargs,
        not_before=not_before,
        lease_until=not_before + JOB_LEASE,
        request_id=current_request_id(),
    )


async def take(record_id: str, *, now: datetime | None = None) -> bool:
    """A worker takes the job: its lease starts now. False when the record is gone (the job
    ran) or another worker took it and its lease still runs: this copy must not run."""
    now = now or utcnow()
    written = await db.update_one(
        JobRecord,
        {
            "_id": PydanticObjectId(record_id),
            "$or": [{"taken_at": None}, {"lease_until": {"$lte": now}}],
        },
        {"$set": {"taken_at": now, "lease_until": now + JOB_LEASE}},
    )
    return written.matched == 1


async def let_go(record_id: str) -> None:
    """The job failed where it was taken: a retry of it (Celery's, or the relay's once the
    lease runs out) may take it again."""
    await db.update_one(
        JobRecord, {"_id": PydanticObjectId(record_id)}, {"$set": {"taken_at": None}}
    )


async def strike(record_id: str) -> None:
    """The job is done."""
    await db.delete_one(JobRecord, {"_id": PydanticObjectId(record_id)})


async def waiting_jobs() -> int:
    """How many jobs are recorded and not yet done (retries scheduled for later included)."""
    return await db.count(JobRecord, {})


async def job_gauges() -> dict[str, tuple[str, list[tuple[dict[str, str], float]]]]:
    """The jobs recorded and not yet done, by queue (for /metrics)."""
    rows = await aggregate(JobRecord, [{"$group": {"_id": "$name", "count": {"$sum": 1}}}])
    by_queue = {queue: 0.0 for queue in (FANOUT_QUEUE, DEFAULT_QUEUE, EMAIL_QUEUE)}
    for row in rows:
        queue = JOBS[row["_id"]][0] if row["_id"] in JOBS else DEFAULT_QUEUE
        by_queue[queue] += row["count"]
    return {
        "schoolbell_jobs_waiting": (
            "Background jobs recorded and not yet done, by queue: queued, running, or "
            "scheduled for later (a retry); a backlog shows here while it drains.",
            [({"queue": queue}, count) for queue, count in by_queue.items()],
        )
    }
