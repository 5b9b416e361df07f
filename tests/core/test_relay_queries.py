"""The job relay after a broker outage: every recorded job is sent once, and no query it
sends grows with the backlog (an `$nin` of every job already sent would carry N² ids over
the wire for a backlog of N)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from app.core import jobs
from app.core.job_relay import RELAY_BATCH
from app.core.jobs import RECORD_ID, InlineDispatcher, JobRecord
from app.core.security import utcnow
from app.grades.notices import GRADE_EVENT_JOB
from tests.query_shapes import filters_sent, longest_list


class CountingBroker(InlineDispatcher):
    """Takes every job and runs none: the relay's own work is what is measured."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def enqueue(self, name: str, *, countdown: float, **kwargs: Any) -> None:
        self.sent.append(kwargs[RECORD_ID])


@pytest.fixture
def job_filters() -> Iterator[list[Any]]:
    with filters_sent(JobRecord.Settings.name) as seen:
        yield seen
    jobs.use_dispatcher(InlineDispatcher())


async def test_a_backlog_of_jobs_is_relayed_once_with_queries_that_do_not_grow(
    job_filters: list[Any], app: FastAPI
) -> None:
    backlog = 2 * RELAY_BATCH + 7
    overdue = utcnow() - timedelta(minutes=1)
    await JobRecord.insert_many(
        [
            JobRecord(
                name=GRADE_EVENT_JOB,
                kwargs={"grade_id": str(n)},
                not_before=overdue,
                lease_until=overdue,
            )
            for n in range(backlog)
        ]
    )
    broker = CountingBroker()
    jobs.use_dispatcher(broker)

    assert await jobs.relay_due_jobs() == backlog
    assert len(set(broker.sent)) == len(broker.sent) == backlog
    # A second pass finds every lease running: nothing is sent twice.
    assert await jobs.relay_due_jobs() == 0
    assert job_filters
    assert max(longest_list(f) for f in job_filters) <= RELAY_BATCH
