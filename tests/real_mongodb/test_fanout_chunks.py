"""Two `schoolbell worker` processes over a real MongoDB share the chunks of one broadcast.

Needs MONGODB_URL (a real server; skips without one, saying so) and Redis (REDIS_URL or
127.0.0.1:6379, as the Celery integration test finds it). Each worker is a process of its
own consuming the fan-out queue; which one ran each chunk is read from its job log lines.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from beanie import PydanticObjectId

from app.announcements.models import Announcement, AnnouncementStatus
from app.auth.models import Role, User
from app.core.jobs import FANOUT_QUEUE, CeleryDispatcher
from app.core.security import create_access_token
from app.main import create_app
from app.notifications.fanout import CHUNK_JOB
from app.notifications.models import Notification
from app.schools.models import School, SchoolClass
from tests.conftest import TEST_SECRET, default_password_hash, make_settings
from tests.dev_server import clean_env, command
from tests.real_mongodb.opening import MONGODB_URL, REAL_MONGODB_ONLY
from workers.celery_app import create_celery

pytestmark = REAL_MONGODB_ONLY

BATCH = 8
STUDENTS = 60
WORKERS = 2
PUBLISH_TIMEOUT_SECONDS = 120
READY_TIMEOUT_SECONDS = 60


def wait_ready(logs: list[Path], workers: list[subprocess.Popen]) -> None:
    """Both workers consume before the broadcast, so neither can take every chunk alone."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not all(log.exists() and " ready." in log.read_text() for log in logs):
        for worker, log in zip(workers, logs, strict=True):
            assert worker.poll() is None, log.read_text()
        assert time.monotonic() < deadline, [log.read_text()[-2000:] for log in logs]
        time.sleep(0.2)


def start_worker(log: Path, data_dir: Path, database: str, redis_url: str) -> subprocess.Popen:
    assert MONGODB_URL is not None
    handle = log.open("wb")
    return subprocess.Popen(
        [*command(), "worker", "--queues", FANOUT_QUEUE, "--concurrency", "1"],
        env=clean_env(
            data_dir,
            MONGODB_URL=MONGODB_URL,
            MONGODB_DB=database,
            REDIS_URL=redis_url,
            JWT_SECRET=TEST_SECRET,
            PUBLIC_BASE_URL="http://testserver",
            FANOUT_BATCH_SIZE=str(BATCH),
            LOG_LEVEL="INFO",
        ),
        stdout=handle,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


async def test_two_worker_processes_share_one_broadcast_on_real_mongodb(
    tmp_path: Path, redis_url: str
) -> None:
    database = f"schoolbell_test_{uuid.uuid4().hex[:12]}"
    settings = make_settings(
        tmp_path / "data",
        mongodb_url=MONGODB_URL,
        mongodb_db=database,
        redis_url=redis_url,
        fanout_batch_size=BATCH,
    )
    celery_app = create_celery(settings)
    celery_app.control.purge()
    app = create_app(settings, dispatcher=CeleryDispatcher(celery_app))
    logs = [tmp_path / f"worker-{n}.log" for n in range(WORKERS)]
    workers = [start_worker(log, tmp_path / "data", database, redis_url) for log in logs]
    try:
        wait_ready(logs, workers)
        async with app.router.lifespan_context(app):
            school = School(name="Chunked school")
            await school.insert()
            assert school.id is not None
            admin = User(
                email="admin@chunks.example.org",
                full_name="Admin",
                role=Role.admin,
                password_hash=default_password_hash(),
                school_ids=[school.id],
            )
            await admin.insert()
            students = [
                User(
                    email=f"pupil{n}@chunks.example.org",
                    full_name=f"Pupil {n}",
                    role=Role.student,
                    password_hash=default_password_hash(),
                    school_ids=[school.id],
                )
                for n in range(STUDENTS)
            ]
            await User.insert_many(students)
            ids = [u.id for u in await User.find({"role": "student"}).to_list()]
            school.classes = [SchoolClass(name="5A", student_ids=[i for i in ids if i])]
            await school.save()

            access, _ = create_access_token(user_id=str(admin.id), secret=TEST_SECRET, minutes=15)
            token = f"Bearer {access}"
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test/api/v1"
            ) as client:
                response = await client.post(
                    "/announcements",
                    json={"school_id": str(school.id), "title": "Sports day", "body": "Fri"},
                    headers={"Authorization": token},
                )
                assert response.status_code == 202, response.text
                announcement_id = PydanticObjectId(response.json()["id"])
                deadline = time.monotonic() + PUBLISH_TIMEOUT_SECONDS
                while True:
                    announcement = await Announcement.get(announcement_id)
                    assert announcement is not None
                    if announcement.status == AnnouncementStatus.published:
                        break
                    assert time.monotonic() < deadline, "the chunks never finished"
                    await asyncio.sleep(0.5)

            per_recipient = Counter(
                n.recipient_id
                for n in await Notification.find({"event_key": announcement.event_key}).to_list()
            )
            assert set(per_recipient) == set(ids)
            assert set(per_recipient.values()) == {1}
            assert announcement.recipients == STUDENTS
            # Every worker ran chunks of this broadcast.
            ran = [log.read_text().count(f"job {CHUNK_JOB} succeeded") for log in logs]
            assert all(count > 0 for count in ran), ran
            assert sum(ran) >= -(-STUDENTS // BATCH)
            client_db = User.get_motor_collection().database
            await client_db.client.drop_database(database)
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait(30)
