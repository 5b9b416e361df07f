"""`schoolbell dev`'s own life as a real process: stopped with SIGTERM mid-broadcast,
started on a large backlog of recorded work, and mailing a server that never greets.
Each test prints what it measured (exit time, lost, duplicated, time to serve and drain)."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from beanie import PydanticObjectId
from mongomock_motor import AsyncMongoMockClient

from app.auth.models import Role, User
from app.core.db import init_database
from app.core.embedded import write_embedded
from app.core.jobs import JobRecord
from app.core.security import hash_password, utcnow
from app.delivery.models import Email, EmailKind
from app.delivery.service import SEND_JOB
from app.documents import DOCUMENT_MODELS
from app.schools.models import School, SchoolClass, TeacherAssignment
from tests.conftest import running
from tests.dev_server import DevServer
from tests.faults.test_dev_crashes import (
    ADMIN,
    PASSWORD,
    FlakySmtp,
    announce,
    build_school,
    dev,
    students,
    wait_until,
)

pytestmark = pytest.mark.slow

# What the issue asks of a stop: every outcome recorded and the process gone within this.
STOP_SECONDS = 5.0


@pytest.fixture
def smtp() -> Iterator[FlakySmtp]:
    with running(FlakySmtp()) as server:
        yield server


def assert_stopped_cleanly(server: DevServer, code: int) -> None:
    # uvicorn raises the signal again once it has shut down, so the parent sees why it ended.
    assert code in (0, -signal.SIGTERM)
    output = server.output()
    assert "embedded database saved" in output, output[-2000:]
    assert "did not stop within" not in output


def stop_and_time(server: DevServer, sig: signal.Signals = signal.SIGTERM) -> tuple[int, float]:
    started = time.monotonic()
    code = server.stop(sig)
    return code, time.monotonic() - started


def test_sigterm_mid_broadcast_stops_within_seconds_and_no_email_goes_twice(
    workdir: Path, tmp_path: Path, smtp: FlakySmtp, servers: list[DevServer]
) -> None:
    pupils = 150
    data_dir = build_school(tmp_path, pupils)
    # Slow enough that the send job is still going long after the signal.
    first = dev(workdir, data_dir, smtp, EMAIL_RATE_PER_SECOND="10")
    servers.append(first)
    announce(first)
    wait_until(lambda: len(smtp.envelopes) >= pupils // 5)
    at_signal = len(smtp.envelopes)
    code, took = stop_and_time(first)
    at_stop = len(smtp.envelopes)
    assert at_stop < pupils, "the broadcast finished before the stop; slow it down"

    second = dev(workdir, data_dir, smtp, EMAIL_RATE_PER_SECOND="100")
    servers.append(second)
    wanted = set(students(pupils))
    drain = wait_until(lambda: wanted <= set(smtp.by_recipient()))
    time.sleep(3)  # a late duplicate would arrive in this time
    counts = smtp.by_recipient()
    lost = len(wanted - set(counts))
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    print(
        f"\nSIGTERM mid-broadcast: {at_signal} of {pupils} sent at the signal, {at_stop} when "
        f"dev had stopped, exit code {code} after {took:.2f} s; lost {lost}, duplicated "
        f"{duplicated}, drained {drain:.1f} s after the restart"
    )
    assert_stopped_cleanly(first, code)
    assert took < STOP_SECONDS
    assert lost == 0
    assert duplicated == 0
    second.stop()


def build_backlog(tmp_path: Path, count: int) -> Path:
    """A data dir as a dev stopped with work queued leaves it: `count` emails waiting, each
    with its recorded send job, the leases of a process that is gone."""
    data_dir = build_school(tmp_path, 0)

    async def build() -> None:
        await init_database(AsyncMongoMockClient(tz_aware=True), "build", DOCUMENT_MODELS)
        queued = utcnow() - timedelta(minutes=1)
        emails, records = [], []
        for n in range(count):
            email = Email(
                idempotency_key=f"backlog:{n}",
                kind=EmailKind.account,
                to=f"reader{n}@faults.example.org",
                subject=f"Backlog {n}",
                text="Queued before the stop",
                html="<p>Queued before the stop</p>",
                next_attempt_at=queued,
                created_at=queued,
            )
            email.id = PydanticObjectId()
            record = JobRecord(
                name=SEND_JOB,
                kwargs={"email_ids": [str(email.id)]},
                not_before=queued,
                lease_until=queued,
                dispatches=1,
                created_at=queued,
            )
            record.id = PydanticObjectId()
            emails.append(email.model_dump(by_alias=True))
            records.append(record.model_dump(by_alias=True))
        write_embedded(data_dir, {"emails": emails, "jobs": records})

    asyncio.run(build())
    return data_dir


def seconds_in_log(server: DevServer, first: str, then: str) -> float:
    """Seconds between the first log line containing `first` and the next containing `then`
    (the figure without Python's imports, which a loaded machine makes slow)."""
    from datetime import datetime

    stamps: list[datetime] = []
    for line in server.output().splitlines():
        if (first if not stamps else then) in line:
            stamps.append(datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f"))
            if len(stamps) == 2:
                return (stamps[1] - stamps[0]).total_seconds()
    raise AssertionError(f"no {first!r} then {then!r} in the log")


def jobs_waiting_gauge(server: DevServer) -> float:
    text = httpx.get(f"{server.base}/metrics", timeout=30).text
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("schoolbell_jobs_waiting")
    ]
    assert values, "no schoolbell_jobs_waiting gauge on /metrics"
    return sum(values)


def test_a_restart_with_a_large_backlog_serves_at_once_and_drains_in_the_background(
    workdir: Path, tmp_path: Path, smtp: FlakySmtp, servers: list[DevServer]
) -> None:
    count = 1000
    data_dir = build_backlog(tmp_path, count)
    started = time.monotonic()
    server = dev(workdir, data_dir, smtp, EMAIL_RATE_PER_SECOND="1000")
    servers.append(server)
    serving = time.monotonic() - started
    ready = httpx.get(f"{server.base}/ready", timeout=30)
    waiting_at_start = ready.json().get("jobs_waiting")
    gauge_at_start = jobs_waiting_gauge(server)

    wanted = {f"reader{n}@faults.example.org" for n in range(count)}
    drain = wait_until(lambda: wanted <= set(smtp.by_recipient()), 600)
    wait_until(lambda: jobs_waiting_gauge(server) == 0, 60)
    counts = smtp.by_recipient()
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    print(
        f"\nrestart with {count} queued jobs: /health answered "
        f"{seconds_in_log(server, 'Waiting for application startup', 'GET /health 200'):.1f} s "
        f"after the app began to start ({serving:.1f} s after the command, imports included); "
        f"/ready said {waiting_at_start} waiting, the gauge {gauge_at_start:.0f}; "
        f"drained {drain:.1f} s after serving; lost {len(wanted - set(counts))}, "
        f"duplicated {duplicated}"
    )
    # It served (within DevServer's 60 s, minutes before) while the backlog still waited.
    assert ready.status_code == 200
    assert waiting_at_start and waiting_at_start > count // 2
    assert gauge_at_start > 0
    assert ready.json()["jobs_waiting"] >= 0
    assert httpx.get(f"{server.base}/ready", timeout=30).json()["jobs_waiting"] == 0
    assert duplicated == 0
    server.stop()


class SilentSmtp:
    """Accepts connections and never says a word: a tarpit. Counts the connections open
    and those the client gave up on."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen()
        self.port = int(self._listener.getsockname()[1])
        self.accepted = 0
        self.given_up = 0
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []

    def start(self) -> None:
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self._open.append(connection)
            threading.Thread(target=self._hold, args=(connection,), daemon=True).start()

    def _hold(self, connection: socket.socket) -> None:
        try:
            while connection.recv(1024):
                pass
        except OSError:
            pass
        with self._lock:
            self.given_up += 1

    @property
    def stuck(self) -> int:
        with self._lock:
            return self.accepted - self.given_up

    def stop(self) -> None:
        self._listener.close()
        with self._lock:
            for connection in self._open:
                connection.close()


TEACHER = "teacher@faults.example.org"
STUDENT = "pupil@faults.example.org"


def build_class(tmp_path: Path) -> tuple[Path, str, str]:
    """A data dir with a class, its math teacher and one student: (dir, class, student)."""
    return asyncio.run(_build_class(tmp_path / "data"))


async def _build_class(data_dir: Path) -> tuple[Path, str, str]:
    await init_database(AsyncMongoMockClient(tz_aware=True), "build", DOCUMENT_MODELS)
    school = School(name="Tarpit school", timezone="Europe/Moscow")
    school.id = PydanticObjectId()
    password_hash = hash_password(PASSWORD)
    people: dict[str, User] = {}
    for email, role in ((ADMIN, Role.admin), (TEACHER, Role.teacher), (STUDENT, Role.student)):
        user = User(
            email=email,
            full_name=f"Tarpit {role.value}",
            role=role,
            password_hash=password_hash,
            school_ids=[school.id],
            email_verified=True,
        )
        user.id = PydanticObjectId()
        people[email] = user
    student_id, teacher_id = people[STUDENT].id, people[TEACHER].id
    assert student_id is not None and teacher_id is not None
    school_class = SchoolClass(
        name="7V",
        student_ids=[student_id],
        teachers=[TeacherAssignment(teacher_id=teacher_id, subjects=["math"])],
    )
    school.classes = [school_class]
    write_embedded(
        data_dir,
        {
            "schools": [school.model_dump(by_alias=True)],
            "users": [u.model_dump(by_alias=True) for u in people.values()],
        },
    )
    return data_dir, str(school_class.id), str(student_id)


def test_a_grade_reaches_the_inbox_while_the_mail_server_never_greets(
    workdir: Path, tmp_path: Path, servers: list[DevServer]
) -> None:
    data_dir, class_id, student_id = build_class(tmp_path)
    with running(SilentSmtp()) as tarpit:
        server = dev(workdir, data_dir, tarpit)  # type: ignore[arg-type]
        servers.append(server)
        # An account email goes first and sticks in the greeting.
        server.register("new.parent@faults.example.org")
        wait_until(lambda: tarpit.stuck >= 1, 30)

        teacher = {"Authorization": f"Bearer {server.token(TEACHER, PASSWORD)}"}
        pupil = {"Authorization": f"Bearer {server.token(STUDENT, PASSWORD)}"}
        response = httpx.post(
            f"{server.base}/api/v1/grades",
            json={"student_id": student_id, "class_id": class_id, "subject": "math", "value": 5},
            headers=teacher,
            timeout=30,
        )
        assert response.status_code == 201, response.text

        def noticed() -> bool:
            inbox = httpx.get(f"{server.base}/api/v1/notifications", headers=pupil, timeout=30)
            return any("math" in n["title"] for n in inbox.json()["items"])

        late = wait_until(noticed, 60)
        given_up_by_then = tarpit.given_up
        code, took = stop_and_time(server)
        print(
            f"\nSMTP server that never greets: the grade's notice was in the inbox "
            f"{late:.2f} s after the POST (the send gave up on {given_up_by_then} "
            f"connection(s) by then); dev stopped in {took:.2f} s with a send stuck"
        )
        # The notice did not wait for the stalled send to give up.
        assert given_up_by_then == 0
        assert late < 10  # a generous bound: it is a second or less
        assert_stopped_cleanly(server, code)
        assert took < STOP_SECONDS
