"""A broadcast for more recipients than one batch is cut into chunk jobs that any worker takes.

Two real Celery workers (solo pools, each in a thread of its own) consume the fan-out queue
from a real Redis. The database is the in-memory store of this process, so, as in
`schoolbell dev`, the task bodies run on this test's event loop; what each worker takes is
its own. With a batch of 8, the 42 people of a school get six chunk jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from beanie import PydanticObjectId
from celery import Celery
from celery.contrib.testing.worker import start_worker
from celery.signals import task_prerun
from kombu.asynchronous import set_event_loop
from mongomock_motor import AsyncMongoMockClient

from app.announcements.models import Announcement, AnnouncementStatus
from app.announcements.service import fan_out
from app.auth.models import Role, User
from app.core import jobs
from app.core.db import aggregate
from app.core.jobs import CeleryDispatcher
from app.delivery.models import Email
from app.main import create_app
from app.notifications.fanout import CHUNK_JOB
from app.notifications.models import Notification
from app.schools.models import School, SchoolClass
from tests.conftest import default_password_hash, make_settings
from workers import runtime
from workers.celery_app import create_celery

BATCH = 8
STUDENTS = 40
TEACHERS = 2
RECIPIENTS = STUDENTS + TEACHERS
CHUNKS = -(-RECIPIENTS // BATCH)
PUBLISH_TIMEOUT_SECONDS = 120
# A chunk holds its worker until the other worker has taken a chunk too (or this long), so
# that on a busy machine one worker cannot drain the queue before the other one asks.
SECOND_TAKER_PATIENCE_SECONDS = 60
# Under load a worker thread may take a while to see the stop.
WORKER_STOP_SECONDS = 60


@dataclass
class Stack:
    client: httpx.AsyncClient
    celery_app: Celery
    # (the worker thread, chunk) of every chunk job a worker started.
    taken: list[tuple[int, int]]


@pytest.fixture
async def two_workers(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Stack]:
    settings = make_settings(tmp_path / "data", redis_url=redis_url, fanout_batch_size=BATCH)
    celery_app = create_celery(settings)
    celery_app.control.purge()
    app = create_app(
        settings,
        mongo_client=AsyncMongoMockClient(tz_aware=True),
        dispatcher=CeleryDispatcher(celery_app),
    )
    queue, deliver_chunk = jobs.JOBS[CHUNK_JOB]
    taken: list[tuple[int, int]] = []
    lock = threading.Lock()

    both_took = threading.Event()

    async def chunk_once_both_take(**kwargs: Any) -> Any:
        if not await asyncio.to_thread(both_took.wait, SECOND_TAKER_PATIENCE_SECONDS):
            both_took.set()  # waited once, long enough: the check on the takers says the rest
        return await deliver_chunk(**kwargs)

    monkeypatch.setitem(jobs.JOBS, CHUNK_JOB, (queue, chunk_once_both_take))

    def record_taker(sender: Any = None, kwargs: Any = None, **_: Any) -> None:
        if sender is not None and sender.name == CHUNK_JOB:
            with lock:
                # Each worker takes its jobs in its own thread (the body then runs on the loop).
                taken.append((threading.get_ident(), int(kwargs["chunk"])))
                if len({worker for worker, _chunk in taken}) >= 2:
                    both_took.set()

    task_prerun.connect(record_taker, weak=False)
    async with app.router.lifespan_context(app):
        runtime.mark_database_ready()
        # The bodies run on this loop, one at a time between awaits, as in `schoolbell dev`.
        runtime.run_on_host_loop(asyncio.get_running_loop())
        try:
            with contextlib.ExitStack() as workers:
                for name in ("first", "second"):
                    # Celery's worker takes kombu's process-wide event loop when one is set;
                    # two workers in one process would then poll one hub from two threads and
                    # read each other's replies. Each gets a hub of its own.
                    set_event_loop(None)
                    workers.enter_context(
                        start_worker(
                            celery_app,
                            pool="solo",
                            perform_ping_check=False,
                            queues=[jobs.FANOUT_QUEUE],
                            hostname=f"{name}@chunks",
                            shutdown_timeout=WORKER_STOP_SECONDS,
                        )
                    )
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://test/api/v1"
                ) as client:
                    yield Stack(client, celery_app, taken)
                # Let the workers' threads see the end while the loop still turns for them.
                await asyncio.sleep(0)
        finally:
            runtime.run_on_host_loop(None)
            task_prerun.disconnect(record_taker)


async def _people(role: Role, count: int, school_id: PydanticObjectId) -> list[PydanticObjectId]:
    users = [
        User(
            email=f"{role.value}{n}@chunks.example.org",
            full_name=f"{role.value.title()} {n}",
            role=role,
            password_hash=default_password_hash(),
            school_ids=[school_id],
        )
        for n in range(count)
    ]
    await User.insert_many(users)
    found = await User.find({"role": role.value, "school_ids": school_id}).to_list()
    return [user.id for user in found if user.id is not None]


async def _published(announcement_id: PydanticObjectId) -> Announcement:
    deadline = time.monotonic() + PUBLISH_TIMEOUT_SECONDS
    while True:
        announcement = await Announcement.get(announcement_id)
        assert announcement is not None
        if announcement.status == AnnouncementStatus.published:
            return announcement
        assert time.monotonic() < deadline, "the chunks never finished the announcement"
        await asyncio.sleep(0.2)


async def _per_recipient(model: type[Any], field: str, match: dict[str, Any]) -> Counter[Any]:
    rows = await aggregate(
        model, [{"$match": match}, {"$group": {"_id": f"${field}", "n": {"$sum": 1}}}]
    )
    return Counter({row["_id"]: row["n"] for row in rows})


async def test_two_workers_share_the_chunks_of_one_broadcast_and_nobody_gets_it_twice(
    two_workers: Stack, login_as
) -> None:
    school = School(name="Chunked school")
    await school.insert()
    assert school.id is not None
    (admin_id,) = await _people(Role.admin, 1, school.id)
    students = await _people(Role.student, STUDENTS, school.id)
    teachers = await _people(Role.teacher, TEACHERS, school.id)
    school.classes = [SchoolClass(name="5A", student_ids=students)]
    await school.save()
    admin = await User.get(admin_id)
    assert admin is not None

    response = await two_workers.client.post(
        "/announcements",
        json={"school_id": str(school.id), "title": "Sports day", "body": "Friday."},
        headers=login_as(admin),
    )
    assert response.status_code == 202, response.text
    announcement_id = PydanticObjectId(response.json()["id"])
    announcement = await _published(announcement_id)

    # Both workers took chunks of this one broadcast, and each chunk ran once.
    takers = {worker for worker, _chunk in two_workers.taken}
    assert len(takers) == 2, two_workers.taken
    assert threading.get_ident() not in takers
    assert sorted(chunk for _worker, chunk in two_workers.taken) == list(range(CHUNKS))

    # Everyone has it once: in the inbox, and one email each (the email queue is not
    # consumed here, so every email stays in the outbox to be counted).
    event = {"event_key": announcement.event_key}
    notified = await _per_recipient(Notification, "recipient_id", event)
    assert set(notified) == {*students, *teachers}
    assert set(notified.values()) == {1}
    emails = await _per_recipient(Email, "to", {"source_id": announcement_id})
    assert len(emails) == RECIPIENTS
    assert set(emails.values()) == {1}
    assert announcement.recipients == RECIPIENTS

    # The fan-out run again (the stalled-broadcast sweep does that) changes no figure.
    await fan_out(announcement_id=str(announcement_id))
    again = await Announcement.get(announcement_id)
    assert again is not None and again.recipients == RECIPIENTS
    assert again.status == AnnouncementStatus.published
    assert await Notification.find(event).count() == RECIPIENTS
    assert await Email.find({"source_id": announcement_id}).count() == RECIPIENTS
    stats = await two_workers.client.get(
        f"/announcements/{announcement_id}", headers=login_as(admin)
    )
    assert stats.json()["stats"]["recipients"] == RECIPIENTS, stats.json()
