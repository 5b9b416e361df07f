"""Background jobs by name: the API enqueues, a Celery worker (or the caller, inline) runs them.

Jobs are async service functions that take ids. `workers/tasks.py` wraps each one in
a Celery task of the same name; the API only ever sends a name and keyword ids, after
the documents those ids point at have been written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from app.core.logs import current_request_id
from app.core.observe import run_job

log = logging.getLogger(__name__)

JobFunction = Callable[..., Coroutine[Any, Any, Any]]

# Name -> (queue, coroutine function). Filled by `register` at import of the service modules.
JOBS: dict[str, tuple[str, JobFunction]] = {}

FANOUT_QUEUE = "fanout"
DEFAULT_QUEUE = "default"
EMAIL_QUEUE = "email"


def job(name: str, *, queue: str = DEFAULT_QUEUE) -> Callable[[JobFunction], JobFunction]:
    """Register an async service function as the body of the job `name` (`domain.verb`)."""

    def register(function: JobFunction) -> JobFunction:
        JOBS[name] = (queue, function)
        return function

    return register


class Dispatcher(Protocol):
    async def enqueue(self, name: str, **kwargs: Any) -> None: ...


# The message header that carries the enqueuing request's id to the worker's log lines.
REQUEST_ID_HEADER = "schoolbell_request_id"


async def run(name: str, kwargs: dict[str, Any], *, request_id: str | None) -> Any:
    """Run the registered job `name` here, logged and counted (workers call this too)."""
    _queue, function = JOBS[name]
    return await run_job(name, function, kwargs, request_id=request_id)


class InlineDispatcher:
    """Runs the job at once in the caller's event loop; for tests and one-off scripts."""

    async def enqueue(self, name: str, **kwargs: Any) -> None:
        await run(name, kwargs, request_id=current_request_id())


class CeleryDispatcher:
    """Sends the job to the broker; a worker runs it."""

    def __init__(self, celery_app: Any) -> None:
        self.celery_app = celery_app

    async def enqueue(self, name: str, **kwargs: Any) -> None:
        queue, _function = JOBS[name]
        request_id = current_request_id()
        headers = {REQUEST_ID_HEADER: request_id} if request_id else None
        self.celery_app.send_task(name, kwargs=kwargs, queue=queue, headers=headers)


_dispatcher: Dispatcher = InlineDispatcher()


def use_dispatcher(dispatcher: Dispatcher) -> None:
    global _dispatcher
    _dispatcher = dispatcher


async def enqueue(name: str, **kwargs: Any) -> None:
    if name not in JOBS:
        raise KeyError(f"unknown job {name!r}")
    await _dispatcher.enqueue(name, **kwargs)
