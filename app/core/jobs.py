"""Background jobs by name, through an outbox: the API records a job, then hands it to Celery.

Jobs are async service functions that take ids. `workers/tasks.py` wraps each one in a
Celery task of the same name; the API only ever sends a name and keyword ids, after the
documents those ids point at have been written.

Every job is first written to the `jobs` collection and only then sent to the broker; the
record is deleted when the job has run. So a broker that is down (Redis stopped), a send
that fails, or a process that dies with jobs in an in-memory broker never loses a job nor
fails the request that asked for it: the relay (`relay_due_jobs`, every few seconds in each
API process) sends again whatever is still recorded after its lease. Every job is
idempotent, so the rare second run (the record outlived a job that did run) is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import Field

from app.core import db
from app.core.db import aggregate, claim_many
from app.core.errors import StorageUnavailable
from app.core.logs import current_request_id
from app.core.observe import run_job
from app.core.security import as_utc, utcnow

log = logging.getLogger(__name__)

JobFunction = Callable[..., Coroutine[Any, Any, Any]]

# Name -> (queue, coroutine function). Filled by `register` at import of the service modules.
JOBS: dict[str, tuple[str, JobFunction]] = {}

FANOUT_QUEUE = "fanout"
DEFAULT_QUEUE = "default"
EMAIL_QUEUE = "email"

# The keyword that carries the outbox record's id to the job runner.
RECORD_ID = "outbox_job_id"
# A job sent this long ago whose record is still there did not run: send it again.
JOB_LEASE = timedelta(minutes=10)
# After the broker refused a job, requests stop trying it directly for this long and leave
# their jobs to the relay, so an outage costs each request one write, not a timeout.
BROKER_BACKOFF_SECONDS = 5.0
RELAY_INTERVAL_SECONDS = 5.0
DISPATCH_TIMEOUT_SECONDS = 5.0
# A job sent this many times without finishing is left for a person to look at.
MAX_DISPATCHES = 20
# Records claimed by one relay pass in one update.
RELAY_BATCH = 200


class JobRecord(Document):
    """A job asked for and not yet done."""

    name: str
    kwargs: dict[str, Any] = Field(default_factory=dict)
    # The job must not run before this (a retry's own time).
    not_before: datetime = Field(default_factory=utcnow)
    # The relay sends the job (again) once this has passed.
    lease_until: datetime = Field(default_factory=utcnow)
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


@dataclass(frozen=True)
class Periodic:
    """When beat runs a job on its own, and whether `dev` runs it at start."""

    every: timedelta
    # The keywords of the run `dev` makes at start (None: no such run). What fell due while
    # the only process was stopped goes at once, not after beat's first interval.
    at_start: Mapping[str, Any] | None


# Name -> its schedule, for the jobs that run on a schedule. beat's schedule and dev's
# start-up runs are read from here, so a periodic job is declared once, where it is defined.
PERIODIC: dict[str, Periodic] = {}


def job(
    name: str,
    *,
    queue: str = DEFAULT_QUEUE,
    every: timedelta | None = None,
    at_start: bool | Mapping[str, Any] = False,
) -> Callable[[JobFunction], JobFunction]:
    """Register an async service function as the body of the job `name` (`domain.verb`).

    `every`: beat runs it that often, without arguments. `at_start`: `dev` runs it when it
    starts (True, or the keywords to run it with); only a periodic job may ask for that."""
    if at_start and every is None:
        raise ValueError(f"job {name!r}: only a periodic job runs at start")

    def register(function: JobFunction) -> JobFunction:
        JOBS[name] = (queue, function)
        if every is not None:
            keywords = ({} if at_start is True else dict(at_start)) if at_start else None
            PERIODIC[name] = Periodic(every=every, at_start=keywords)
        return function

    return register


def beat_schedule() -> dict[str, dict[str, Any]]:
    """Celery beat's schedule: every periodic job, by its name."""
    return {
        name: {"task": name, "schedule": periodic.every.total_seconds()}
        for name, periodic in sorted(PERIODIC.items())
    }


async def enqueue_start_runs() -> None:
    """Enqueue the runs the periodic jobs asked for at the start of the only process."""
    for name, periodic in sorted(PERIODIC.items()):
        if periodic.at_start is not None:
            await enqueue(name, **periodic.at_start)


class Dispatcher(Protocol):
    async def enqueue(
        self, name: str, *, countdown: float, request_id: str | None, **kwargs: Any
    ) -> None: ...


# The message header that carries the enqueuing request's id to the worker's log lines.
REQUEST_ID_HEADER = "schoolbell_request_id"


# Jobs stopped by a database that refused writes (dev's data folder full): their records
# could not even be marked due, so they are sent again as soon as writes are taken, rather
# than after a whole lease.
_stopped_by_storage: set[str] = set()


async def run(name: str, kwargs: dict[str, Any], *, request_id: str | None) -> Any:
    """Run the registered job `name` here, logged and counted, and once it succeeded strike
    its outbox record (workers call this too)."""
    arguments = dict(kwargs)
    record_id = arguments.pop(RECORD_ID, None)
    _queue, function = JOBS[name]
    try:
        result = await run_job(name, function, arguments, request_id=request_id)
        if record_id is not None:
            await JobRecord.find_one({"_id": PydanticObjectId(record_id)}).delete()
        return result
    except StorageUnavailable:
        # Logged once by the store and once as this job's outcome; its record stays.
        if record_id is not None:
            _stopped_by_storage.add(record_id)
        return None
    finally:
        if record_id is not None:
            _job_finished(record_id)


async def resend_stopped_by_storage() -> int:
    """Send again the jobs a database refusing writes stopped; returns how many were sent."""
    stopped = list(_stopped_by_storage)
    if not stopped:
        return 0
    _stopped_by_storage.difference_update(stopped)
    try:
        await JobRecord.find({"_id": {"$in": [PydanticObjectId(i) for i in stopped]}}).update(
            {"$set": {"lease_until": utcnow()}}
        )
        return await relay_due_jobs()
    except StorageUnavailable:  # still refused: the next pass tries again
        _stopped_by_storage.update(stopped)
        return 0


class InlineDispatcher:
    """Runs the job at once in the caller's event loop; for tests and one-off scripts.
    A job for later is left to the relay."""

    async def enqueue(
        self, name: str, *, countdown: float, request_id: str | None, **kwargs: Any
    ) -> None:
        if countdown <= 0:
            await run(name, kwargs, request_id=request_id)


class BrokerUnavailable(Exception):
    """The broker did not take the job."""


class CeleryDispatcher:
    """Sends the job to the broker, from a thread: kombu's client blocks."""

    def __init__(self, celery_app: Any) -> None:
        self.celery_app = celery_app

    async def enqueue(
        self, name: str, *, countdown: float, request_id: str | None, **kwargs: Any
    ) -> None:
        queue, _function = JOBS[name]
        headers = {REQUEST_ID_HEADER: request_id} if request_id else None
        try:
            await asyncio.wait_for(
                asyncio.to_thread(
                    self.celery_app.send_task,
                    name,
                    kwargs=kwargs,
                    queue=queue,
                    countdown=countdown if countdown > 0 else None,
                    headers=headers,
                    # The record is the retry: a broker that is down must not hold the caller.
                    retry=False,
                ),
                DISPATCH_TIMEOUT_SECONDS,
            )
        except Exception as exc:
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc


_dispatcher: Dispatcher = InlineDispatcher()
_broker_down_until = 0.0


def use_dispatcher(dispatcher: Dispatcher) -> None:
    global _dispatcher, _broker_down_until
    _dispatcher = dispatcher
    _broker_down_until = 0.0


async def _dispatch(record: JobRecord, now: datetime) -> bool:
    """Hand a recorded job to the dispatcher; False (and logged) when that failed."""
    global _broker_down_until
    countdown = (as_utc(record.not_before) - now).total_seconds()
    try:
        await _dispatcher.enqueue(
            record.name,
            countdown=countdown,
            request_id=record.request_id,
            **_with_record_id(record),
        )
    except BrokerUnavailable as exc:
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        log.warning(
            "job %s could not be sent (%s); it is kept and the relay sends it later",
            record.name,
            exc,
        )
        return False
    except Exception:  # run inline and failed: the record stays, the relay runs it again
        log.exception("job %s failed; the relay runs it again later", record.name)
        return False
    return True


def _with_record_id(record: JobRecord) -> dict[str, Any]:
    return {**record.kwargs, RECORD_ID: str(record.id)}


async def reserve(name: str, *, countdown: float = 0, **kwargs: Any) -> JobRecord:
    """Record a job without sending it yet. Written before the change the job tells of, it
    makes a crash between the two harmless: the relay sends the job once its lease runs out,
    and a job whose change never happened finds nothing to do."""
    if name not in JOBS:
        raise KeyError(f"unknown job {name!r}")
    not_before = utcnow() + timedelta(seconds=max(0.0, countdown))
    record = JobRecord(
        name=name,
        kwargs=kwargs,
        not_before=not_before,
        lease_until=not_before + JOB_LEASE,
        request_id=current_request_id(),
    )
    await record.insert()
    return record


async def send(record: JobRecord) -> None:
    """Hand a recorded job to the broker (or run it inline). Never raises for a broker that
    is down or a job that failed inline: the record stays for the relay."""
    now = utcnow()
    if time.monotonic() >= _broker_down_until and await _dispatch(record, now):
        return
    # Not sent: due for the relay's next pass rather than after a whole lease.
    await JobRecord.find_one({"_id": record.id}).update({"$set": {"lease_until": now}})


async def enqueue(name: str, *, countdown: float = 0, **kwargs: Any) -> None:
    """Record the job, then send it (to run in `countdown` seconds)."""
    await send(await reserve(name, countdown=countdown, **kwargs))


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
    while claimed := await _claim_records(query, token=token, now=now, limit=RELAY_BATCH):
        for position, record in enumerate(claimed):
            if not await _dispatch_claimed(record, now):
                # The broker is away: this one and the rest of the batch wait for the next pass.
                await _due_again_after_backoff(claimed[position:], now)
                return sent
            sent += 1
    return sent


async def _claim_records(
    query: dict[str, Any], *, token: str, now: datetime, limit: int
) -> list[JobRecord]:
    raw = await claim_many(
        JobRecord,
        query,
        {"$set": {"lease_until": now + JOB_LEASE}, "$inc": {"dispatches": 1}},
        token_field="relay_token",
        token=token,
        sort=[("lease_until", 1), ("created_at", 1)],
        limit=limit,
    )
    return [JobRecord.model_validate(document) for document in raw]


async def _dispatch_claimed(record: JobRecord, now: datetime) -> bool:
    # Its lease counts from its own time, so a retry for later is not sent twice.
    if as_utc(record.not_before) > now:
        await JobRecord.find_one({"_id": record.id}).update(
            {"$set": {"lease_until": as_utc(record.not_before) + JOB_LEASE}}
        )
    if not await _dispatch(record, now):
        return False
    if record.dispatches >= MAX_DISPATCHES:
        log.error(
            "job %s (%s) was sent %d times and never finished; no more tries",
            record.name,
            record.id,
            record.dispatches,
        )
    return True


async def _due_again_after_backoff(records: list[JobRecord], now: datetime) -> None:
    await db.update_many(
        JobRecord,
        {"_id": {"$in": [record.id for record in records]}},
        {"$set": {"lease_until": now + timedelta(seconds=BROKER_BACKOFF_SECONDS)}},
    )


# --- the backlog a process takes over at its start ------------------------------------------

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


async def take_over_recorded_jobs(*, now: datetime | None = None) -> str | None:
    """At the start of the only process on a database: every job still recorded belongs to
    a process that is gone. Marks them all as this start's backlog in one update (leased,
    so the relay leaves them to `feed_backlog`); returns the backlog's token, None when
    there is none."""
    now = now or utcnow()
    token = f"backlog-{uuid.uuid4().hex}"
    written = await db.update_many(
        JobRecord,
        {"dispatches": {"$lt": MAX_DISPATCHES}},
        {"$set": {"relay_token": token, "lease_until": now + JOB_LEASE}},
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
        if time.monotonic() - last_extended > JOB_LEASE.total_seconds() / 2:
            # What is still waiting stays this feeder's, not the relay's.
            await db.update_many(JobRecord, backlog, {"$set": {"lease_until": now + JOB_LEASE}})
            last_extended = time.monotonic()
        room = BACKLOG_WINDOW - len(_backlog_in_flight)
        claimed = await _claim_records(backlog, token=uuid.uuid4().hex, now=now, limit=max(1, room))
        if not claimed:
            log.info("the jobs recorded before this start are all sent (%d)", sent)
            return sent
        for position, record in enumerate(claimed):
            if as_utc(record.not_before) <= now:
                _backlog_in_flight[str(record.id)] = time.monotonic()
            if not await _dispatch_claimed(record, now):
                _backlog_in_flight.pop(str(record.id), None)
                # The broker is away: the relay takes over all that is left, after the backoff.
                await _due_again_after_backoff(claimed[position:], now)
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


# --- figures -------------------------------------------------------------------------------


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
