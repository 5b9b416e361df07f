"""Redis stopped under a running API and Celery worker: nothing answers 500, /ready says
so, a grade posted meanwhile is stored and, once Redis is back, notified and mailed once.

Real processes where they matter: our own redis-server (stopped and started), a real Celery
worker consuming from it (in a thread, as the database is in this process) and aiosmtpd.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from celery.contrib.testing.worker import start_worker
from fastapi import FastAPI
from mongomock_motor import AsyncMongoMockClient

from app.auth.models import User
from app.core.config import Settings
from app.core.jobs import CeleryDispatcher, JobRecord
from app.delivery.models import Email, EmailStatus
from app.notifications.models import Notification
from tests.conftest import DEFAULT_PASSWORD, World, make_settings, running
from tests.delivery.conftest import CountingSmtpServer
from tests.delivery.helpers import received_by
from tests.faults.redis_server import OwnRedis
from tests.grades.helpers import posted
from workers import runtime
from workers.celery_app import QUEUES, create_celery

pytestmark = pytest.mark.slow
Login = Callable[[User], dict[str, str]]

DRAIN_TIMEOUT_SECONDS = 60


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    with running(OwnRedis()) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, smtp_server: CountingSmtpServer, own_redis: OwnRedis) -> Settings:
    return make_settings(
        tmp_path / "data",
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        redis_url=own_redis.url,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    celery_app = create_celery(settings)
    application = create_app_with(settings, celery_app)
    async with application.router.lifespan_context(application):
        runtime.mark_database_ready()
        with start_worker(celery_app, pool="solo", perform_ping_check=False, queues=list(QUEUES)):
            yield application


def create_app_with(settings: Settings, celery_app: object) -> FastAPI:
    from app.main import create_app

    return create_app(
        settings,
        mongo_client=AsyncMongoMockClient(tz_aware=True),
        dispatcher=CeleryDispatcher(celery_app),
    )


async def _until(condition: Callable[[], Awaitable[bool]], seconds: float) -> float:
    """Seconds until `condition()` held; fails the test after `seconds`."""
    started = time.monotonic()
    while not await condition():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not reached within {seconds} s")
        await asyncio.sleep(0.2)
    return time.monotonic() - started


async def test_a_grade_posted_while_redis_is_down_is_notified_and_mailed_once_it_is_back(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    smtp_server: CountingSmtpServer,
    own_redis: OwnRedis,
) -> None:
    own_redis.stop()

    ready = await client.get("http://test/ready")
    assert ready.status_code == 503
    assert "redis" in ready.json()["down"]

    started = time.monotonic()
    grade = await posted(client, login_as(world.teacher), world)
    request_seconds = time.monotonic() - started
    assert grade["id"]

    # Logins count against the in-memory fallback limits instead of answering 500.
    login = await client.post(
        "/auth/login", data={"username": world.teacher.email, "password": DEFAULT_PASSWORD}
    )
    assert login.status_code == 200, login.text
    reset = await client.post("/auth/password-reset/request", json={"email": world.parent.email})
    assert reset.status_code == 202, reset.text
    announced = await client.post(
        "/announcements",
        json={"school_id": str(world.school.id), "title": "Outage", "body": "Still here"},
        headers=login_as(world.admin),
    )
    assert announced.status_code == 202, announced.text
    # The grade's notification waits in the job outbox, not in a lost send_task.
    assert await JobRecord.find({"name": "notifications.grade_event"}).count() == 1

    own_redis.start()

    async def mailed() -> bool:
        # The grade's email and the announcement's.
        return len(received_by(smtp_server, world.student.email)) >= 2

    drain = await _until(mailed, DRAIN_TIMEOUT_SECONDS)
    await asyncio.sleep(3)  # a duplicate would arrive in this time
    assert len(received_by(smtp_server, world.student.email)) == 2
    assert await Notification.find({"recipient_id": world.student.id}).count() == 2
    emails = await Email.find({"recipient_id": world.student.id}).to_list()
    assert [e.status for e in emails] == [EmailStatus.sent] * 2
    # One for the grade, one for the announcement, each once.
    assert sorted(str(e.source_id) for e in emails) == sorted([grade["id"], announced.json()["id"]])
    subjects = [str(m["Subject"]) for m in received_by(smtp_server, world.parent.email)]
    assert subjects.count("Reset your Schoolbell password") == 1
    ready = await client.get("http://test/ready")
    assert ready.status_code == 200, ready.text
    print(
        f"\nredis outage: grade answered in {request_seconds:.2f} s; its email and the "
        f"announcement's arrived {drain:.1f} s after Redis came back; lost 0, duplicated 0"
    )
