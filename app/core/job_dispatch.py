"""Handing a recorded job to the broker (Celery), or running it inline, and backing off
from a broker that is down."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any, Protocol

from beanie import PydanticObjectId

from app.core import db, job_records
from app.core.job_records import JobRecord
from app.core.job_registry import JOBS
from app.core.job_running import run
from app.core.security import as_utc, utcnow

log = logging.getLogger(__name__)

# After the broker refused a job, requests stop trying it directly for this long and leave
# their jobs to the relay, so an outage costs each request one write, not a timeout.
BROKER_BACKOFF_SECONDS = 5.0
DISPATCH_TIMEOUT_SECONDS = 5.0
# The message header that carries the enqueuing request's id to the worker's log lines.
REQUEST_ID_HEADER = "schoolbell_request_id"


class Dispatcher(Protocol):
    async def enqueue(
        self, name: str, *, countdown: float, request_id: str | None, **kwargs: Any
    ) -> None: ...


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


def broker_backing_off() -> bool:
    """The broker refused a job a moment ago: leave jobs to the relay for now."""
    return time.monotonic() < _broker_down_until


async def dispatch(record: JobRecord, now: datetime) -> bool:
    """Hand a recorded job to the dispatcher; False (and logged) when that failed."""
    global _broker_down_until
    countdown = (as_utc(record.not_before) - now).total_seconds()
    try:
        await _dispatcher.enqueue(
            record.name,
            countdown=countdown,
            request_id=record.request_id,
            **{**record.kwargs, job_records.RECORD_ID: str(record.id)},
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


async def reserve(name: str, *, countdown: float = 0, **kwargs: Any) -> JobRecord:
    """Record a job without sending it yet. Written before the change the job tells of, it
    makes a crash between the two harmless: the relay sends the job once its lease runs out,
    and a job whose change never happened finds nothing to do."""
    record = job_records.new_record(name, countdown=countdown, **kwargs)
    await record.insert()
    return record


async def send(record: JobRecord) -> None:
    """Hand a recorded job to the broker (or run it inline). Never raises for a broker that
    is down or a job that failed inline: the record stays for the relay."""
    now = utcnow()
    if not broker_backing_off() and await dispatch(record, now):
        return
    # Not sent: due for the relay's next pass rather than after a whole lease.
    await db.update_one(JobRecord, {"_id": record.id}, {"$set": {"lease_until": now}})


async def enqueue(name: str, *, countdown: float = 0, **kwargs: Any) -> None:
    """Record the job, then send it (to run in `countdown` seconds)."""
    await send(await reserve(name, countdown=countdown, **kwargs))


async def reserve_many(name: str, keywords: list[dict[str, Any]]) -> list[JobRecord]:
    """Record several runs of the job `name` in one write, without sending them yet."""
    records = [job_records.new_record(name, **each) for each in keywords]
    for record in records:
        # Named here: an insert of many does not hand the ids it made back to the models.
        record.id = PydanticObjectId()
    if records:
        await JobRecord.insert_many(records)
    return records


async def discard(records: list[JobRecord]) -> None:
    """Strike jobs reserved and never sent (what they were for turned out to be done)."""
    if records:
        await db.delete_many(JobRecord, {"_id": {"$in": [record.id for record in records]}})
