"""The API on dev's embedded store while its data folder is full: writes answer 503 with
Retry-After and one sentence, reads go on, /ready says what is wrong, the log has one line
for the outage, and work resumes when space returns, without a restart."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from mongomock_motor import AsyncMongoMockClient

from app.core import jobs
from app.core.config import Settings
from app.delivery.models import Email
from app.main import create_app
from app.notifications.models import Notification
from tests.conftest import DEFAULT_PASSWORD, World
from tests.core.test_embedded_store import email
from tests.full_disk import FullDisk


@pytest.fixture
def disk(tmp_path: Path) -> Path:
    return tmp_path / "disk"


@pytest.fixture
async def app(settings: Settings, disk: Path) -> AsyncIterator[FastAPI]:
    application = create_app(
        settings, mongo_client=AsyncMongoMockClient(tz_aware=True), snapshot_dir=disk
    )
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def full_disk(disk: Path, monkeypatch: pytest.MonkeyPatch) -> FullDisk:
    return FullDisk(disk, monkeypatch)


def grade_of(world: World, value: int) -> dict[str, Any]:
    return {
        "student_id": str(world.student.id),
        "class_id": str(world.class_5a.id),
        "subject": "math",
        "value": value,
    }


async def test_while_the_disk_is_full_writes_answer_503_and_reads_go_on(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    world: World,
    login_as: Callable[..., dict[str, str]],
    full_disk: FullDisk,
    caplog: pytest.LogCaptureFixture,
) -> None:
    teacher = login_as(world.teacher)
    grades = f"/students/{world.student.id}/grades"
    assert (
        await client.post("/grades", json=grade_of(world, 5), headers=teacher)
    ).status_code == 201
    full_disk.fill()
    caplog.clear()

    refused = await client.post(
        "/grades", json=grade_of(world, 4), headers={**teacher, "Accept-Language": "ru"}
    )
    assert refused.status_code == 503, refused.text
    assert int(refused.headers["Retry-After"]) > 0
    detail = refused.json()["detail"]
    assert "\n" not in detail and re.search("[а-я]", detail) and not re.search("[a-z]", detail)
    login = await client.post(
        "/auth/login", data={"username": world.parent.email, "password": DEFAULT_PASSWORD}
    )
    assert login.status_code == 503, login.text
    assert "storage" in login.json()["detail"]

    listed = await client.get(grades, headers=teacher)
    assert listed.status_code == 200
    assert [g["value"] for g in listed.json()["items"]] == [5]
    ready = await site.get("/ready")
    assert ready.status_code == 503
    assert "storage" in ready.json()["down"]
    assert "cannot be written (No space left on device)" in ready.json()["detail"]
    assert "\n" not in ready.json()["detail"]
    # One line for the outage, however many requests met it, and no traceback.
    problems = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(problems) == 1 and problems[0].exc_info is None, caplog.text
    assert "Traceback" not in caplog.text

    full_disk.free()  # no restart
    accepted = await client.post("/grades", json=grade_of(world, 3), headers=teacher)
    assert accepted.status_code == 201, accepted.text
    assert (await site.get("/ready")).status_code == 200
    listed = await client.get(grades, headers=teacher)
    assert sorted(g["value"] for g in listed.json()["items"]) == [3, 5]


async def test_a_job_the_full_disk_stopped_runs_again_as_soon_as_space_returns(
    app: FastAPI, world: World, full_disk: FullDisk, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = asyncio.Event()

    async def write_an_email(*, key: str) -> None:
        await email(key).insert()
        ran.set()

    monkeypatch.setitem(jobs.JOBS, "tests.write_an_email", (jobs.DEFAULT_QUEUE, write_an_email))
    record = await jobs.reserve("tests.write_an_email", key="written-later")
    full_disk.fill()
    await jobs.send(record)  # runs inline here, and the disk refuses its write
    assert await Email.find({"idempotency_key": "written-later"}).count() == 0
    assert not ran.is_set()

    full_disk.free()  # no write, no restart: the store notices, and the job runs again
    await asyncio.wait_for(ran.wait(), 15)
    assert await Email.find({"idempotency_key": "written-later"}).count() == 1
    assert await jobs.JobRecord.find({"_id": record.id}).count() == 0


async def test_a_grade_posted_just_before_the_disk_filled_is_notified_after_it_frees(
    client: httpx.AsyncClient,
    world: World,
    login_as: Callable[..., dict[str, str]],
    full_disk: FullDisk,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The grade and its job are written; the disk is full by the time the fan-out runs.
    original_send = jobs.send

    async def send_on_a_full_disk(record: jobs.JobRecord) -> None:
        monkeypatch.setattr(jobs, "send", original_send)  # only the first one
        full_disk.fill()
        await original_send(record)

    monkeypatch.setattr(jobs, "send", send_on_a_full_disk)
    posted = await client.post("/grades", json=grade_of(world, 5), headers=login_as(world.teacher))
    assert posted.status_code == 201, posted.text
    assert await Notification.find({"recipient_id": world.student.id}).count() == 0

    full_disk.free()
    for _ in range(150):
        if await Notification.find({"recipient_id": world.student.id}).count():
            break
        await asyncio.sleep(0.1)
    assert await Notification.find({"recipient_id": world.student.id}).count() == 1


async def test_every_write_documents_the_503_of_a_database_that_takes_no_writes(
    site: httpx.AsyncClient,
) -> None:
    spec = (await site.get("/openapi.json")).json()
    writes = [
        (method, path, operation)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
        if method in {"post", "put", "patch", "delete"}
    ]
    assert writes
    assert [(m, p) for m, p, operation in writes if "503" not in operation["responses"]] == []
    assert (
        "Retry-After" in spec["paths"]["/api/v1/grades"]["post"]["responses"]["503"]["description"]
    )
