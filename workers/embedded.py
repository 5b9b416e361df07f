"""A Celery worker and beat inside the current process, for `schoolbell dev`.

They use the same task code and queues as production; with no REDIS_URL the broker is
Celery's in-memory transport, which is why they must live in the API's process.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

from celery import Celery
from celery.apps.worker import Worker
from celery.beat import EmbeddedService
from celery.worker import state

from workers import runtime
from workers.celery_app import QUEUES

log = logging.getLogger(__name__)


class EmbeddedWorkers:
    def __init__(self, celery_app: Celery, *, schedule_file: Path) -> None:
        self.celery_app = celery_app
        self.schedule_file = schedule_file
        self._worker: Worker | None = None
        self._thread: threading.Thread | None = None
        self._beat: EmbeddedService | None = None
        self._stopping = False
        self._reported: set[str] = set()

    def start(self) -> None:
        """Start from inside the API's running event loop: task bodies run on it."""
        runtime.run_on_host_loop(asyncio.get_running_loop())
        # The worker thread looks its tasks up on the default app (current_app is per thread).
        self.celery_app.set_current()
        self.celery_app.set_default()
        self._worker = self.celery_app.WorkController(
            pool="solo",
            concurrency=1,
            queues=list(QUEUES),
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            loglevel="WARNING",
        )
        self._thread = threading.Thread(
            target=self._worker.start, name="schoolbell-worker", daemon=True
        )
        self._thread.start()
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
        if self._thread is not None and not self._thread.is_alive():
            found.append("worker")
        if self._beat is not None and not self._beat.is_alive():
            found.append("beat")
        for name in set(found) - self._reported:
            log.error("the embedded Celery %s has stopped; restart schoolbell dev", name)
        self._reported.update(found)
        return found

    def stop(self, timeout: float = 10.0) -> None:
        """Stop beat and the worker, waiting at most `timeout` seconds in all: a part that
        hangs is left behind (its thread is a daemon) rather than holding up the exit."""
        self._stopping = True
        deadline = time.monotonic() + timeout
        if self._beat is not None:
            # Not beat's own stop(), which waits for its loop to confirm, without a timeout.
            self._beat.service.stop(wait=False)
            self._beat.join(max(0.0, deadline - time.monotonic()))
            if self._beat.is_alive():
                log.warning("the embedded beat did not stop within %.0f s; leaving it", timeout)
        if self._thread is not None:
            # The worker's loop checks this flag and shuts down cleanly after the current task.
            state.should_terminate = 0
            self._thread.join(max(0.0, deadline - time.monotonic()))
            if self._thread.is_alive():
                log.warning("the embedded worker did not stop within %.0f s; leaving it", timeout)
            state.should_terminate = None
        runtime.run_on_host_loop(None)
