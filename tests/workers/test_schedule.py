"""Periodic jobs are declared once, with their job: beat's schedule and dev's start-up runs
are read from that declaration."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from app.core import jobs
from workers.schedule import BEAT_SCHEDULE

MINUTE = 60.0


def test_beat_runs_the_scheduled_announcements_digests_and_sweep_every_minute() -> None:
    assert BEAT_SCHEDULE == {
        "announcements.publish_due": {"task": "announcements.publish_due", "schedule": MINUTE},
        "delivery.sweep": {"task": "delivery.sweep", "schedule": MINUTE},
        "digests.scan": {"task": "digests.scan", "schedule": MINUTE},
        "events.remind_due": {"task": "events.remind_due", "schedule": MINUTE},
    }


@pytest.fixture
def scratch_job() -> Iterator[str]:
    name = "scratch.tick"
    yield name
    jobs.JOBS.pop(name, None)
    jobs.PERIODIC.pop(name, None)


async def test_a_job_declared_with_a_schedule_reaches_beat_and_the_start_runs(
    scratch_job: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    @jobs.job(scratch_job, every=timedelta(minutes=5), at_start={"catch_up": True})
    async def tick(*, catch_up: bool = False) -> None: ...

    assert jobs.beat_schedule()[scratch_job] == {"task": scratch_job, "schedule": 300.0}

    enqueued: list[tuple[str, dict[str, Any]]] = []

    async def record(name: str, **kwargs: Any) -> None:
        enqueued.append((name, kwargs))

    monkeypatch.setattr(jobs, "enqueue", record)
    await jobs.enqueue_start_runs()
    assert (scratch_job, {"catch_up": True}) in enqueued
    assert ("digests.scan", {}) in enqueued
    assert ("announcements.publish_due", {}) in enqueued


def test_only_a_periodic_job_may_run_at_start(scratch_job: str) -> None:
    with pytest.raises(ValueError, match="only a periodic job"):
        jobs.job(scratch_job, at_start=True)
