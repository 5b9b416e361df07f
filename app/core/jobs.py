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
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, Protocol

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import Field

from app.core.db import claim_one
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

    class Settings:
        name = "jobs"
        indexes = [pymongo.IndexModel([("lease_until", 1)], name="due")]


def job(name: str, *, queue: str = DEFAULT_QUEUE) -> Callable[[JobFunction], JobFunction]:
    """Register an async service function as the body of the job `name` (`domain.verb`)."""

    def register(function: JobFunction) -> JobFunction:
        JOBS[name] = (queue, function)
        return function

    return register


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
    except StorageUnavailable:
        # Logged once by the store and once as this job's outcome; its record stays.
        if record_id is not None:
            _stopped_by_storage.add(record_id)
        return None
    return result


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
    """Send every recorded job whose lease ran out; with `everything`, every recorded job
    (at the start of a process that owns all of them). Returns how many were sent."""
    now = now or utcnow()
    query: dict[str, Any] = {"dispatches": {"$lt": MAX_DISPATCHES}}
    if not everything:
        query["lease_until"] = {"$lte": now}
    claimed: set[str] = set()
    sent = 0
    while True:
        if claimed:
            query["_id"] = {"$nin": [PydanticObjectId(i) for i in claimed]}
        raw = await claim_one(
            JobRecord,
            query,
            {"$set": {"lease_until": now + JOB_LEASE}, "$inc": {"dispatches": 1}},
            sort=[("lease_until", 1)],
        )
        if raw is None:
            return sent
        record = JobRecord.model_validate(raw)
        claimed.add(str(record.id))
        # Its lease counts from its own time, so a retry for later is not sent twice.
        if as_utc(record.not_before) > now:
            await JobRecord.find_one({"_id": record.id}).update(
                {"$set": {"lease_until": as_utc(record.not_before) + JOB_LEASE}}
            )
        if not await _dispatch(record, now):
            await JobRecord.find_one({"_id": record.id}).update(
                {"$set": {"lease_until": now + timedelta(seconds=BROKER_BACKOFF_SECONDS)}}
            )
            return sent
        sent += 1
        if record.dispatches >= MAX_DISPATCHES:
            log.error(
                "job %s (%s) was sent %d times and never finished; no more tries",
                record.name,
                record.id,
                record.dispatches,
            )


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
