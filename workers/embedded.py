"""A Celery worker and beat inside the current process, for `schoolbell dev`.

They use the same task code and queues as production; with no REDIS_URL the broker is
Celery's in-memory transport, which is why they must live in the API's process.

The worker is two lanes, each a solo Celery worker in a thread of its own: one for the
fan-out and default queues, one for the email queue. Task bodies of both run on the API's
event loop, so a send stalled on a mail server that does not answer never holds up the
fan-out that puts a grade in a parent's inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from celery import Celery
from celery.apps.worker import Worker
from celery.beat import EmbeddedService
from celery.worker import state
from fastapi import FastAPI

from app.announcements.service import PUBLISH_DUE_JOB
from app.core.jobs import (
    DEFAULT_QUEUE,
    EMAIL_QUEUE,
    FANOUT_QUEUE,
    enqueue,
    feed_backlog,
    take_over_recorded_jobs,
)
from app.delivery import service as delivery_service
from app.delivery.stopping import resume_sending, stop_sending
from app.notifications.digests import SCAN_JOB
from workers import runtime

log = logging.getLogger(__name__)

# Queues by lane: sending waits on mail servers, the rest must not wait behind it.
LANES = {"fanout": (FANOUT_QUEUE, DEFAULT_QUEUE), "email": (EMAIL_QUEUE,)}
# A stop, in all: running jobs finish or are cut off, the threads are joined. Under the
# 5 s an operator (or a service manager's SIGTERM) may expect, with room for the final save.
STOP_SECONDS = 4.0
# Of which the running jobs get this long to end on their own: a send job finishes the
# message it is sending and records every outcome; a job still running then is cancelled
# and its record keeps it for the next start.
JOBS_FINISH_SECONDS = 2.0


class EmbeddedWorkers:
    def __init__(
        self, celery_app: Celery, *, schedule_file: Path, lane_app: Callable[[], Celery]
    ) -> None:
        """`celery_app` sends jobs and runs beat; `lane_app` makes the app of each lane
        (one app per worker: a worker narrows its app's queues to its own)."""
        self.celery_app = celery_app
        self.lane_app = lane_app
        self.schedule_file = schedule_file
        self._workers: dict[str, Worker] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._beat: EmbeddedService | None = None
        self._stopping = False
        self._reported: set[str] = set()

    def start(self) -> None:
        """Start from inside the API's running event loop: task bodies run on it."""
        runtime.run_on_host_loop(asyncio.get_running_loop())
        resume_sending()
        # The worker threads look their tasks up on the default app (current_app is per thread).
        self.celery_app.set_current()
        self.celery_app.set_default()
        for lane, queues in LANES.items():
            worker = self.lane_app().WorkController(
                pool="solo",
                concurrency=1,
                queues=list(queues),
                hostname=f"{lane}@schoolbell-dev",
                without_heartbeat=True,
                without_mingle=True,
                without_gossip=True,
                loglevel="WARNING",
            )
            thread = threading.Thread(
                target=worker.start, name=f"schoolbell-worker-{lane}", daemon=True
            )
            self._workers[lane], self._threads[lane] = worker, thread
            thread.start()
        self.schedule_file.parent.mkdir(parents=True, exist_ok=True)
        self._beat = EmbeddedService(
            self.celery_app, thread=True, schedule_filename=str(self.schedule_file)
        )
        self._beat.start()

    def dead(self) -> list[str]:
        """The parts that stopped without being asked to ("worker", "beat"); each is
        logged once, the first time it is found dead."""
        if self._stopping:
            return []
        found = []
        if any(not thread.is_alive() for thread in self._threads.values()):
            found.append("worker")
        if self._beat is not None and not self._beat.is_alive():
            found.append("beat")
        for name in set(found) - self._reported:
            log.error("the embedded Celery %s has stopped; restart schoolbell dev", name)
        self._reported.update(found)
        return found

    async def stop(self, within_seconds: float = STOP_SECONDS) -> None:
        """Stop sending, let running jobs end (or cut them off), then stop beat and the
        worker, in at most `within_seconds`. Once this returns no task body runs on the
        loop, so the final save holds every outcome."""
        self._stopping = True
        deadline = time.monotonic() + within_seconds
        stop_sending()
        if self._beat is not None:
            # Not beat's own stop(), which waits for its loop to confirm, without a timeout.
            self._beat.service.stop(wait=False)
        # The workers' loops check this flag and shut down after the current task.
        state.should_terminate = 0
        running = [asyncio.wrap_future(future) for future in runtime.close_host_loop()]
        if running:
            _done, late = await asyncio.wait(
                running, timeout=min(JOBS_FINISH_SECONDS, within_seconds)
            )
            for job in late:
                job.cancel()
            if late:
                log.warning(
                    "%d job(s) still running at the stop were cut off; they run again at the "
                    "next start",
                    len(late),
                )
                await asyncio.wait(late, timeout=max(0.1, deadline - time.monotonic()))
        await asyncio.to_thread(self._join, deadline)
        # Every send job of this process has ended; the gate keeps new ones from starting.
        resume_sending()

    def _join(self, deadline: float) -> None:
        parts: list[tuple[str, threading.Thread]] = list(self._threads.items())
        if self._beat is not None:
            parts.append(("beat", self._beat))
        for _name, thread in parts:
            thread.join(max(0.0, deadline - time.monotonic()))
        left = [name for name, thread in parts if thread.is_alive()]
        if left:
            # Harmless: no task body can start any more (see runtime.close_host_loop).
            log.info(
                "embedded %s still winding down at exit; left to end with the process",
                ", ".join(left),
            )
        else:
            state.should_terminate = None


def run_embedded_workers(app: FastAPI, workers: EmbeddedWorkers, *, owns_all_work: bool) -> None:
    """Start the in-process Celery worker and beat with the app, and stop them before it.

    `owns_all_work`: this process is the only one on its database (schoolbell dev holds the
    data dir's lock), so at start whatever was in flight belongs to a process that is gone:
    every email being sent goes back to the queue and every recorded job is sent again, and
    due digests and scheduled announcements go, at once rather than after leases and beat's
    first minute. The start only marks that work (a few updates); the API serves at once
    and the recorded jobs are fed to the workers in the background, a window at a time.
    """
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        async with inner(application) as lifespan_state:
            backlog = None
            if owns_all_work:
                # Before the workers start, so no send of this process is taken for an orphan.
                backlog = await take_over_recorded_jobs()
                await delivery_service.sweep(all_leases=True)
            workers.start()
            application.state.liveness_checks.append(workers.dead)
            if owns_all_work:
                # Beat's first run of these is a minute away: what fell due while dev was
                # stopped goes now.
                await enqueue(SCAN_JOB)
                await enqueue(PUBLISH_DUE_JOB)
            background = [asyncio.create_task(_watch(workers))]
            if backlog is not None:
                background.append(asyncio.create_task(_feed(backlog)))
            try:
                yield lifespan_state
            finally:
                for task in background:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                # Before the app's own shutdown, so the last save has the workers' writes.
                await workers.stop()

    app.router.lifespan_context = lifespan


async def _feed(backlog: str) -> None:
    try:
        await feed_backlog(backlog)
    except Exception:  # the relay sends what is left once the leases run out
        log.exception("could not hand the recorded jobs to the worker; the relay takes them")


WATCH_INTERVAL_SECONDS = 5.0


async def _watch(workers: EmbeddedWorkers) -> None:
    """Look at the worker and beat threads now and then, so a dead one is logged even when
    nobody asks /ready."""
    while True:
        await asyncio.sleep(WATCH_INTERVAL_SECONDS)
        workers.dead()
