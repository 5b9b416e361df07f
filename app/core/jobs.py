"""Background jobs by name, through an outbox: the API records a job, then hands it to Celery.

Jobs are async service functions that take ids. `workers/tasks.py` wraps each one in a
Celery task of the same name; the API only ever sends a name and keyword ids, after the
documents those ids point at have been written.

Every job is first written to the `jobs` collection and only then sent to the broker; the
record is deleted when the job has run. So a broker that is down (Redis stopped), a send
that fails, or a process that dies with jobs in an in-memory broker never loses a job nor
fails the request that asked for it: the relay (`relay_due_jobs`, every few seconds in each
API process) sends again whatever is still recorded after its lease. A lease starts again
when a worker takes the job, and a copy of a job that ran or is running is dropped, so a
job that waited long in a queue runs once. Every job is idempotent, so the rare second run
(a worker presumed dead that was not) is harmless.

This module is the face the rest of the app uses; the parts are:
job_registry (which jobs exist), job_records (the collection and its leases), job_running
(running one), job_dispatch (sending one), job_relay (sending again), job_backlog (what a
start takes over).
"""

from __future__ import annotations

from app.core.job_backlog import feed_backlog, take_over_recorded_jobs
from app.core.job_dispatch import (
    REQUEST_ID_HEADER,
    BrokerUnavailable,
    CeleryDispatcher,
    Dispatcher,
    InlineDispatcher,
    discard,
    enqueue,
    reserve,
    reserve_many,
    send,
    use_dispatcher,
)
from app.core.job_records import (
    JOB_LEASE,
    MAX_DISPATCHES,
    RECORD_ID,
    JobRecord,
    job_gauges,
    waiting_jobs,
)
from app.core.job_registry import (
    DEFAULT_QUEUE,
    EMAIL_QUEUE,
    FANOUT_QUEUE,
    JOBS,
    PERIODIC,
    JobFunction,
    Periodic,
    beat_schedule,
    job,
)
from app.core.job_relay import JobRelay, relay_due_jobs, resend_stopped_by_storage
from app.core.job_running import run

__all__ = [
    "DEFAULT_QUEUE",
    "EMAIL_QUEUE",
    "FANOUT_QUEUE",
    "JOBS",
    "JOB_LEASE",
    "MAX_DISPATCHES",
    "PERIODIC",
    "RECORD_ID",
    "REQUEST_ID_HEADER",
    "BrokerUnavailable",
    "CeleryDispatcher",
    "Dispatcher",
    "InlineDispatcher",
    "JobFunction",
    "JobRecord",
    "JobRelay",
    "Periodic",
    "beat_schedule",
    "discard",
    "enqueue",
    "enqueue_start_runs",
    "feed_backlog",
    "job",
    "job_gauges",
    "relay_due_jobs",
    "resend_stopped_by_storage",
    "reserve",
    "reserve_many",
    "run",
    "send",
    "take_over_recorded_jobs",
    "use_dispatcher",
    "waiting_jobs",
]


async def enqueue_start_runs() -> None:
    """Enqueue the runs the periodic jobs asked for at the start of the only process."""
    for name, periodic in sorted(PERIODIC.items()):
        if periodic.at_start is not None:
            # Through this module's name, so a test that replaces `enqueue` here sees them.
            await enqueue(name, **periodic.at_start)
