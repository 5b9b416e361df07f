"""Running one job where it was taken (a worker, or inline), and striking its record once
it succeeded."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from app.core import job_records
from app.core.errors import StorageUnavailable
from app.core.job_registry import JOBS
from app.core.observe import run_job

log = logging.getLogger(__name__)

# Jobs stopped by a database that refused writes (dev's data folder full): their records
# could not even be marked due, so they are sent again as soon as writes are taken, rather
# than after a whole lease.
stopped_by_storage: set[str] = set()

# Told the record id of every job that ended here, however it ended (the backlog feeder
# counts its jobs in flight with it).
finished_listeners: list[Callable[[str], None]] = []


async def run(name: str, kwargs: dict[str, Any], *, request_id: str | None) -> Any:
    """Run the registered job `name` here, logged and counted, and once it succeeded strike
    its outbox record (workers call this too). A copy of a job that already ran, or that
    another worker is running, is dropped."""
    arguments = dict(kwargs)
    record_id = arguments.pop(job_records.RECORD_ID, None)
    _queue, function = JOBS[name]
    try:
        if record_id is not None and not await job_records.take(record_id):
            log.info("job %s (%s) already ran or is running elsewhere; not again", name, record_id)
            return None
        try:
            result = await run_job(name, function, arguments, request_id=request_id)
        except BaseException:
            if record_id is not None:
                await _let_go(record_id)
            raise
        if record_id is not None:
            await job_records.strike(record_id)
        return result
    except StorageUnavailable:
        # Logged once by the store and once as this job's outcome; its record stays.
        if record_id is not None:
            stopped_by_storage.add(record_id)
        return None
    finally:
        if record_id is not None:
            for listener in finished_listeners:
                listener(record_id)


async def _let_go(record_id: str) -> None:
    try:
        await job_records.let_go(record_id)
    except Exception:  # the lease runs out instead, and the relay sends it again
        log.warning("job record %s could not be let go; it runs again after its lease", record_id)
