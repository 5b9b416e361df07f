"""Which jobs exist: each registered by name with its queue, and the periodic ones with their
schedules (beat's schedule and the runs `dev` makes at start are read from here)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

JobFunction = Callable[..., Coroutine[Any, Any, Any]]

# Name -> (queue, coroutine function). Filled by `job` at import of the service modules.
JOBS: dict[str, tuple[str, JobFunction]] = {}

FANOUT_QUEUE = "fanout"
DEFAULT_QUEUE = "default"
EMAIL_QUEUE = "email"


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
