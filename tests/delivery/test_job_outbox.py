"""The job outbox: a job is recorded before it is sent, so a broker that refuses it never
fails the request nor loses the notification, and a retry is a job due at its own time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.auth.models import User
from app.core import job_backlog, jobs
from app.core.jobs import BrokerUnavailable, InlineDispatcher, JobRecord
from app.core.security import as_utc, utcnow
from app.delivery import service as delivery
from app.delivery.models import Email, EmailKind, EmailStatus
from app.delivery.render import Rendered
from app.grades.notices import GRADE_EVENT_JOB
from app.notifications.models import Notification
from tests.conftest import World
from tests.delivery.conftest import CountingSmtpServer
from tests.delivery.helpers import only_message_to, outbox_of
from tests.grades.helpers import posted

Login = Callable[[User], dict[str, str]]


class DownBroker:
    """What the Celery dispatcher does while Redis is stopped."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    async def enqueue(self, name: str, *, countdown: float, **kwargs: Any) -> None:
        self.refused.append(name)
        raise BrokerUnavailable("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


class RecordingBroker(InlineDispatcher):
    """Runs jobs inline, and notes what was sent for later with its countdown."""

    def __init__(self) -> None:
        self.later: list[tuple[str, float, dict[str, Any]]] = []

    async def enqueue(self, name: str, *, countdown: float, **kwargs: Any) -> None:
        if countdown > 0:
            self.later.append((name, countdown, kwargs))
        await super().enqueue(name, countdown=countdown, **kwargs)


@pytest.fixture(autouse=True)
def _inline_again() -> Any:
    yield
    jobs.use_dispatcher(InlineDispatcher())


async def test_a_grade_posted_while_the_broker_is_down_is_notified_by_the_relay(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    broker = DownBroker()
    jobs.use_dispatcher(broker)

    await posted(client, login_as(world.teacher), world)
    # A second grade does not knock on the broker again during the backoff.
    await posted(client, login_as(world.teacher), world, value=5)

    assert broker.refused == [GRADE_EVENT_JOB]
    assert await JobRecord.find({"name": GRADE_EVENT_JOB}).count() == 2
    assert await Notification.find({"recipient_id": world.student.id}).count() == 0

    jobs.use_dispatcher(InlineDispatcher())  # the broker is back
    assert await jobs.relay_due_jobs() >= 2

    assert await Notification.find({"recipient_id": world.student.id}).count() == 2
    assert len(smtp_server.envelopes) == 2  # one email per grade to the student
    assert await JobRecord.find().count() == 0
    # Relaying again sends nothing twice.
    assert await jobs.relay_due_jobs(everything=True) == 0
    assert await Notification.find({"recipient_id": world.student.id}).count() == 2


async def test_a_job_sent_but_never_finished_is_sent_again_after_its_lease(app: FastAPI) -> None:
    email = delivery.new_email(
        key="lost-job",
        kind=EmailKind.account,
        to="someone@example.org",
        rendered=Rendered(subject="S", text="T", html="<p>T</p>"),
    )
    await email.insert()
    # As if handed to a broker that then lost it (an in-memory one in a process that died).
    lost = JobRecord(
        name=delivery.SEND_EMAILS_JOB,
        kwargs={"email_ids": [str(email.id)]},
        lease_until=utcnow() + jobs.JOB_LEASE,
    )
    await lost.insert()

    assert await jobs.relay_due_jobs() == 0  # its lease has not run out
    assert await jobs.relay_due_jobs(now=utcnow() + jobs.JOB_LEASE + timedelta(seconds=1)) == 1
    assert (await outbox_of_address("someone@example.org")) == EmailStatus.sent
    assert await JobRecord.find().count() == 0


async def outbox_of_address(address: str) -> EmailStatus:
    (email,) = await Email.find({"to": address}).to_list()
    return email.status


async def test_a_failed_send_is_retried_by_a_job_due_at_its_own_time(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    broker = RecordingBroker()
    jobs.use_dispatcher(broker)
    smtp_server.stop()
    await posted(client, login_as(world.teacher), world)
    (email,) = await outbox_of(world.student)
    assert email.status == EmailStatus.failed

    retries = [entry for entry in broker.later if entry[0] == delivery.SEND_EMAILS_JOB]
    assert len(retries) == 1
    _name, countdown, kwargs = retries[0]
    # Due when the email's next attempt is, not at the next minute's sweep; with the server
    # away, that job sends whatever is due by then, this email among them.
    assert 20 <= countdown <= 37
    assert kwargs["email_ids"] is None
    (record,) = await JobRecord.find({"name": delivery.SEND_EMAILS_JOB}).to_list()
    assert abs((as_utc(record.not_before) - as_utc(email.next_attempt_at)).total_seconds()) < 1

    smtp_server.start()
    # The job runs at that time and sends the email, once.
    assert (await delivery.send_emails(**record.kwargs, now=email.next_attempt_at)).delivered == 1
    only_message_to(smtp_server, world.student.email)


class CrashBeforeSend(Exception):
    """The process died after the grade was written, before its notice was sent."""


async def test_a_crash_between_saving_a_grade_and_sending_its_notice_loses_nothing(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    smtp_server: CountingSmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def crash(record: JobRecord) -> None:
        raise CrashBeforeSend

    monkeypatch.setattr(jobs, "send", crash)
    with pytest.raises(CrashBeforeSend):
        await posted(client, login_as(world.teacher), world)
    monkeypatch.undo()
    assert await Notification.find({"recipient_id": world.student.id}).count() == 0

    # The notice was recorded before the grade: the relay finds it once its lease ran out.
    later = utcnow() + jobs.JOB_LEASE + timedelta(seconds=1)
    assert await jobs.relay_due_jobs(now=later) == 1
    assert await Notification.find({"recipient_id": world.student.id}).count() == 1
    assert len(only_message_to(smtp_server, world.student.email).get_all("To") or []) == 1
    assert await JobRecord.find_all().count() == 0


async def test_a_crash_before_the_grade_is_written_leaves_a_notice_that_does_nothing(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    smtp_server: CountingSmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.grades.models import Grade

    async def crash(self: Grade, *args: Any, **kwargs: Any) -> None:
        raise CrashBeforeSend

    monkeypatch.setattr(Grade, "insert", crash)
    with pytest.raises(CrashBeforeSend):
        await posted(client, login_as(world.teacher), world)
    monkeypatch.undo()

    later = utcnow() + jobs.JOB_LEASE + timedelta(seconds=1)
    assert await jobs.relay_due_jobs(now=later) == 1
    assert await Notification.find_all().count() == 0
    assert smtp_server.envelopes == []
    assert await JobRecord.find_all().count() == 0


async def test_a_backlog_taken_over_at_start_is_sent_once_each_and_left_alone_by_the_relay(
    app: FastAPI, smtp_server: CountingSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_backlog, "BACKLOG_WINDOW", 4)
    count = 10
    for n in range(count):
        email = delivery.new_email(
            key=f"backlog-{n}",
            kind=EmailKind.account,
            to=f"reader{n}@example.org",
            rendered=Rendered(subject="S", text="T", html="<p>T</p>"),
        )
        await email.insert()
        # Sent by a process that is gone, with its lease still running.
        await JobRecord(
            name=delivery.SEND_EMAILS_JOB,
            kwargs={"email_ids": [str(email.id)]},
            lease_until=utcnow() + jobs.JOB_LEASE,
            dispatches=1,
        ).insert()
    broker = RecordingBroker()
    jobs.use_dispatcher(broker)

    token = await jobs.take_over_recorded_jobs()
    assert token is not None
    # The relay leaves the taken-over backlog to the feeder.
    assert await jobs.relay_due_jobs(now=utcnow() + timedelta(minutes=1)) == 0
    assert await jobs.feed_backlog(token) == count

    assert sorted(r.lower() for e in smtp_server.envelopes for r in e.rcpt_tos) == sorted(
        f"reader{n}@example.org" for n in range(count)
    )
    assert await JobRecord.find().count() == 0
    assert await jobs.take_over_recorded_jobs() is None  # nothing left to take over
