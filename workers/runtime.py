"""One event loop per worker process (per thread for thread pools), with Beanie on it.

Celery does not await `async def` tasks: each task body is run to completion on this
loop with `run()`. A worker embedded in the API's process (schoolbell dev) hands task
bodies to the API's loop instead, where the database client already lives.

The database client is created lazily in the process that uses it, because a Motor
client must not cross a fork; a forked child notices the new pid and initialises its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from celery.exceptions import Ignore

from app.core.config import get_settings
from app.core.db import init_database, make_client
from app.documents import DOCUMENT_MODELS
from app.migrations import migrate

T = TypeVar("T")

_local = threading.local()
_database_lock = threading.Lock()
# The pid of the process whose database is initialised; None before the first task.
_database_pid: int | None = None
# Set while a worker runs inside the API's process: task bodies run on the API's loop.
_host_loop: asyncio.AbstractEventLoop | None = None
# Set once the host process stops: no task body may start, nor run anywhere else (the
# worker's own loop would open a database of its own).
_host_closed = False
# Task bodies running on the host loop now, so a stop can wait for them or cancel them.
_on_host: set[concurrent.futures.Future[Any]] = set()
_host_lock = threading.Lock()


def run_on_host_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """Send task bodies to `loop` (the API's, with its database client) instead of a
    loop of the worker's own; None goes back to the worker's loop."""
    global _host_loop, _host_closed
    with _host_lock:
        _host_loop = loop
        _host_closed = False


def close_host_loop() -> list[concurrent.futures.Future[Any]]:
    """The host is stopping: no task body starts from now on (the task is dropped; its job
    stays recorded for the next start). Returns the ones still running, to wait for."""
    global _host_closed
    with _host_lock:
        _host_closed = True
        return list(_on_host)


def mark_database_ready() -> None:
    """The host process (schoolbell dev, a test) already initialised Beanie on a client
    that any thread may use (the embedded one); tasks in this process reuse it."""
    global _database_pid
    _database_pid = os.getpid()


def event_loop() -> asyncio.AbstractEventLoop:
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed() or getattr(_local, "pid", None) != os.getpid():
        loop = asyncio.new_event_loop()
        _local.loop, _local.pid = loop, os.getpid()
    return loop


async def _init_database() -> None:
    settings = get_settings()
    await init_database(make_client(settings), settings.mongodb_db, DOCUMENT_MODELS)
    # A worker may start before any API process has moved old data to where it reads it.
    await migrate()


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one task body on this process's loop, initialising the database on first use."""
    global _database_pid
    future: concurrent.futures.Future[T] | None = None
    with _host_lock:
        if _host_closed:
            coroutine.close()
            raise Ignore("the process is stopping; the job stays recorded for its next start")
        host = _host_loop
        if host is not None and host.is_running():
            future = asyncio.run_coroutine_threadsafe(coroutine, host)
            _on_host.add(future)
    if future is not None:
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            # Cut off by the stop (its job stays recorded for the next start).
            raise Ignore("stopped with the process; the job runs again at the next start") from None
        finally:
            with _host_lock:
                _on_host.discard(future)
    loop = event_loop()
    if _database_pid != os.getpid():
        with _database_lock:
            if _database_pid != os.getpid():
                loop.run_until_complete(_init_database())
                _database_pid = os.getpid()
    return loop.run_until_complete(coroutine)
