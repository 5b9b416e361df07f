"""A job's lease starts when a worker takes it: one that waited in the queue longer than its
lease, and was sent again by the relay meanwhile, still runs once.

A real Redis queue and a real Celery worker, started only after the job has waited.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from mongomock_motor import AsyncMongoMockClient

from app.core import job_records, jobs
from app.core.jobs import CeleryDispatcher, JobRecord
from app.main import create_app
from tests.conftest import make_settings
from workers import runtime
from workers.celery_app import create_celery

JOB = "tests.count_runs"
LEASE = timedelta(seconds=1)
DRAIN_TIMEOUT_SECONDS = 60


@pytest.fixture
def runs() -> Iterator[list[str]]:
    """The runs of a job that only counts them."""
    counted: list[str] = []

    @jobs.job(JOB)
    async def count_runs(*, label: str) -> None:
        counted.append(label)

    yield counted
    jobs.JOBS.pop(JOB, None)


async def test_a_job_that_waited_in_the_queue_past_its_lease_runs_once(
    tmp_path: Path, redis_url: str, runs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_records, "JOB_LEASE", LEASE)
    settings = make_settings(tmp_path / "data", redis_url=redis_url)
    celery_app = create_celery(settings)
    celery_app.control.purge()
    broker = redis.Redis.from_url(redis_url)
    app = create_app(
        settings,
        mongo_client=AsyncMongoMockClient(tz_aware=True),
        dispatcher=CeleryDispatcher(celery_app),
    )
    async with app.router.lifespan_context(app):
        runtime.mark_database_ready()
        await jobs.enqueue(JOB, label="once")
        # No worker yet: the job waits in Redis past its lease, and the relay (this one, or
        # the app's own every few seconds) sends it again.
        await asyncio.sleep(LEASE.total_seconds() * 1.5)
        await jobs.relay_due_jobs()
        (record,) = await JobRecord.find_all().to_list()
        assert record.dispatches >= 1
        assert broker.llen(jobs.DEFAULT_QUEUE) >= 2  # two copies of the job are queued

        with start_worker(
            celery_app, pool="solo", perform_ping_check=False, queues=[jobs.DEFAULT_QUEUE]
        ):
            deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
            while broker.llen(jobs.DEFAULT_QUEUE) or broker.hlen("unacked"):
                assert time.monotonic() < deadline, "the worker did not drain the queue"
                await asyncio.sleep(0.1)
        assert await JobRecord.find_all().count() == 0

    assert runs == ["once"]
