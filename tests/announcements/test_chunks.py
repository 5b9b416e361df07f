"""An announcement for more people than one batch goes out in chunk jobs: it is published
when the last chunk is done, its figures hold on a re-run, and a worker that dies in the
middle of a chunk leaves nothing lost and nothing doubled once the relay sends it again."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from beanie import PydanticObjectId

from app.announcements.models import Announcement, AnnouncementStatus
from app.announcements.service import FANOUT_JOB
from app.auth.models import Role, User
from app.core import job_records, jobs
from app.core.config import Settings
from app.core.security import utcnow
from app.delivery.models import Email
from app.notifications import repository as notification_rows
from app.notifications.fanout import CHUNK_JOB
from app.notifications.models import Notification
from tests.conftest import World, default_password_hash, make_settings

BATCH = 5
EXTRA_STUDENTS = 20
Login = Any


class HeldJobs:
    """A broker nobody consumes yet: each job is run by the test, when it chooses."""

    def __init__(self) -> None:
        self.held: list[tuple[str, dict[str, Any]]] = []

    async def enqueue(
        self, name: str, *, countdown: float, request_id: str | None, **kwargs: Any
    ) -> None:
        self.held.append((name, kwargs))

    def take(self, name: str) -> list[dict[str, Any]]:
        taken = [kwargs for job, kwargs in self.held if job == name]
        self.held = [(job, kwargs) for job, kwargs in self.held if job != name]
        return taken


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data", fanout_batch_size=BATCH)


@pytest.fixture
async def held(app: Any) -> AsyncIterator[HeldJobs]:
    broker = HeldJobs()
    jobs.use_dispatcher(broker)
    yield broker
    jobs.use_dispatcher(jobs.InlineDispatcher())


async def _school_of(world: World, *, first: int = 0) -> set[PydanticObjectId]:
    """The world's school with 20 more students (numbered from `first`): everyone an
    announcement to it reaches."""
    assert world.school.id is not None
    extra = [
        User(
            email=f"pupil{n}@chunks.example.org",
            full_name=f"Pupil {n}",
            role=Role.student,
            password_hash=default_password_hash(),
            school_ids=[world.school.id],
        )
        for n in range(first, first + EXTRA_STUDENTS)
    ]
    await User.insert_many(extra)
    members = await User.find({"school_ids": world.school.id}).to_list()
    everyone = {user.id for user in members if user.id is not None}
    everyone.discard(world.admin.id)  # the author
    return {person for person in everyone if person is not None}


async def _posted(client: httpx.AsyncClient, world: World, login_as: Login) -> PydanticObjectId:
    response = await client.post(
        "/announcements",
        json={"school_id": str(world.school.id), "title": "Sports day", "body": "Friday"},
        headers=login_as(world.admin),
    )
    assert response.status_code == 202, response.text
    return PydanticObjectId(response.json()["id"])


async def _status(announcement_id: PydanticObjectId) -> Announcement:
    announcement = await Announcement.get(announcement_id)
    assert announcement is not None
    return announcement


async def _counts(announcement_id: PydanticObjectId) -> tuple[Counter[Any], Counter[Any]]:
    event = {"event_key": f"announcement:{announcement_id}"}
    notified = Counter(n.recipient_id for n in await Notification.find(event).to_list())
    emailed = Counter(e.to for e in await Email.find({"source_id": announcement_id}).to_list())
    return notified, emailed


async def _run(name: str, kwargs: dict[str, Any]) -> None:
    await jobs.run(name, kwargs, request_id=None)


async def _fanned_out(
    client: httpx.AsyncClient, world: World, login_as: Login, held: HeldJobs
) -> tuple[set[PydanticObjectId], PydanticObjectId, dict[str, Any], list[dict[str, Any]]]:
    """The school's people, an announcement to them, its fan-out job (run: the chunk jobs it
    made are held) and those chunk jobs."""
    everyone = await _school_of(world)
    announcement_id = await _posted(client, world, login_as)
    (fanout,) = held.take(FANOUT_JOB)
    await _run(FANOUT_JOB, fanout)
    return everyone, announcement_id, fanout, held.take(CHUNK_JOB)


async def _each_has_it_once(announcement_id: PydanticObjectId, everyone: set[Any]) -> None:
    notified, emailed = await _counts(announcement_id)
    assert set(notified) == everyone and set(notified.values()) == {1}
    assert len(emailed) == len(everyone) and set(emailed.values()) == {1}


async def test_published_when_the_last_chunk_is_done_and_a_rerun_changes_no_figure(
    client: httpx.AsyncClient, world: World, login_as: Login, held: HeldJobs
) -> None:
    everyone, announcement_id, fanout, chunks = await _fanned_out(client, world, login_as, held)
    assert len(chunks) == -(-len(everyone) // BATCH) > 1

    for chunk in chunks[:-1]:
        await _run(CHUNK_JOB, chunk)
        assert (await _status(announcement_id)).status == AnnouncementStatus.publishing
    await _run(CHUNK_JOB, chunks[-1])
    published = await _status(announcement_id)
    assert published.status == AnnouncementStatus.published
    assert published.recipients == len(everyone)

    # A copy of a chunk that already ran is dropped; the producer's job run again (the
    # stalled-broadcast sweep) keeps the chunks it had and repeats no one.
    await _run(CHUNK_JOB, chunks[0])
    await _run(FANOUT_JOB, {key: v for key, v in fanout.items() if key != jobs.RECORD_ID})
    assert held.take(CHUNK_JOB) == []
    await _each_has_it_once(announcement_id, everyone)
    assert (await _status(announcement_id)).recipients == len(everyone)

    # Run again after the school grew: the new audience is a fan-out of its own, which
    # reaches the newcomers and nobody a second time.
    everyone |= await _school_of(world, first=EXTRA_STUDENTS)
    await _run(FANOUT_JOB, {key: v for key, v in fanout.items() if key != jobs.RECORD_ID})
    for chunk in held.take(CHUNK_JOB):
        await _run(CHUNK_JOB, chunk)
    await _each_has_it_once(announcement_id, everyone)
    assert (await _status(announcement_id)).recipients == len(everyone)


async def test_a_worker_dying_mid_chunk_loses_and_doubles_nothing(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    held: HeldJobs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    everyone, announcement_id, _fanout, chunks = await _fanned_out(client, world, login_as, held)

    class Killed(BaseException):
        """The worker's process ends here: nothing after it runs, not even a let-go."""

    async def killed(*_args: Any, **_kwargs: Any) -> int:
        raise Killed

    async def nothing(_record_id: str) -> None:
        return None

    # Dies between the chunk's emails and its notifications, still holding the job.
    monkeypatch.setattr(notification_rows, "insert_new_notifications", killed)
    monkeypatch.setattr(job_records, "let_go", nothing)
    with pytest.raises(Killed):
        await _run(CHUNK_JOB, chunks[0])
    monkeypatch.undo()
    for chunk in chunks[1:]:
        await _run(CHUNK_JOB, chunk)
    assert (await _status(announcement_id)).status == AnnouncementStatus.publishing

    # Broker redelivery of the dead worker's job finds it held by a lease still running.
    await _run(CHUNK_JOB, chunks[0])
    assert (await _status(announcement_id)).status == AnnouncementStatus.publishing
    # Once the lease runs out, the relay sends it again and it runs.
    jobs.use_dispatcher(jobs.InlineDispatcher())
    later = utcnow() + job_records.JOB_LEASE + timedelta(seconds=1)
    assert await jobs.relay_due_jobs(now=later) >= 1

    published = await _status(announcement_id)
    assert published.status == AnnouncementStatus.published
    assert published.recipients == len(everyone)
    await _each_has_it_once(announcement_id, everyone)
