"""Shared fixtures: a fresh in-memory database and app per test, users of each role, tokens."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
import pytest
from beanie import PydanticObjectId
from fastapi import FastAPI
from mongomock_motor import AsyncMongoMockClient

from app.auth.models import Role, User
from app.core.config import Settings
from app.core.security import create_access_token, hash_password
from app.main import create_app
from app.notifications.models import NotificationSettings
from app.notifications.preferences import Preferences
from app.schools.models import GuardianLink, School, SchoolClass, TeacherAssignment
from tests.dev_server import DevServer

TEST_SECRET = "test-secret-that-is-long-enough-for-hs256"
DEFAULT_PASSWORD = "correct-horse-battery"


@cache
def default_password_hash() -> str:
    # Argon2 is slow on purpose; hash the shared test password once per run.
    return hash_password(DEFAULT_PASSWORD)


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "jwt_secret": TEST_SECRET,
        "SCHOOLBELL_DATA_DIR": data_dir,
        "mongodb_url": None,
        "redis_url": None,
        "smtp_host": None,
        "public_base_url": "http://testserver",
        # Grade emails go at once unless a test is about the grace window.
        "grade_notice_delay_minutes": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings, mongo_client=AsyncMongoMockClient(tz_aware=True))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as http:
        yield http


@pytest.fixture
async def site(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client at the site root, where the pages people open from their email live."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


UserFactory = Callable[..., Awaitable[User]]


@pytest.fixture
def make_user() -> UserFactory:
    counter = iter(range(1_000_000))

    async def factory(
        role: Role | str,
        *,
        school_ids: list[PydanticObjectId] | None = None,
        email: str | None = None,
        full_name: str | None = None,
        preferences: Preferences | None = None,
        **fields: Any,
    ) -> User:
        role = Role(role)
        number = next(counter)
        user = User(
            email=(email or f"{role.value}{number}@example.org").lower(),
            full_name=full_name or f"{role.value.title()} {number}",
            role=role,
            password_hash=default_password_hash(),
            school_ids=school_ids or [],
            email_verified=True,
            **fields,
        )
        await user.insert()
        if preferences is not None:
            assert user.id is not None
            await NotificationSettings(id=user.id, preferences=preferences).insert()
        return user

    return factory


@pytest.fixture
def login_as(settings: Settings) -> Callable[[User], dict[str, str]]:
    """Authorization headers for a user, without going through the login route."""

    def headers(user: User) -> dict[str, str]:
        token, _ = create_access_token(
            user_id=str(user.id), secret=settings.secret, minutes=settings.access_token_minutes
        )
        return {"Authorization": f"Bearer {token}"}

    return headers


@dataclass
class World:
    """One school with class 5A: an admin, a maths teacher, a student on the roster, her parent."""

    school: School
    class_5a: SchoolClass
    admin: User
    teacher: User
    student: User
    parent: User


@pytest.fixture
async def world(app: FastAPI, make_user: UserFactory) -> World:
    school = School(name="School 1", timezone="Europe/Moscow")
    await school.insert()
    assert school.id is not None
    admin = await make_user(Role.admin, school_ids=[school.id])
    teacher = await make_user(Role.teacher, school_ids=[school.id])
    student = await make_user(Role.student, school_ids=[school.id])
    parent = await make_user(Role.parent)
    assert teacher.id and student.id and parent.id
    class_5a = SchoolClass(
        name="5A",
        year=5,
        student_ids=[student.id],
        teachers=[TeacherAssignment(teacher_id=teacher.id, subjects=["math"])],
    )
    school.classes.append(class_5a)
    await school.save()
    await GuardianLink(parent_id=parent.id, student_id=student.id).insert()
    return World(school, class_5a, admin, teacher, student, parent)


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis: REDIS_URL or 127.0.0.1:6379 if one answers, else a redis-server we start.

    Each test run takes its own database number so parallel runs do not share queues.
    """
    import os
    import shutil
    import socket
    import subprocess
    import time

    database = os.getpid() % 14 + 1
    configured = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    base = configured.rsplit("/", 1)[0] if configured.count("/") > 2 else configured
    if _redis_answers(f"{base}/{database}"):
        yield f"{base}/{database}"
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(f"no Redis answers at {configured} and no redis-server binary to start one")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/{database}"
    try:
        deadline = time.monotonic() + 10
        while not _redis_answers(url):
            if time.monotonic() > deadline:
                pytest.fail(f"redis-server on port {port} did not answer within 10 s")
            time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


class SmtpServer:
    """A real SMTP server (aiosmtpd) on a free port that keeps what it receives.

    `refuse` holds addresses it answers 550 for; `stop()` / `start()` take it away and
    bring it back on the same port, so a test sees connections refused meanwhile.
    """

    def __init__(self) -> None:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.envelopes: list[Any] = []
        self.refuse: set[str] = set()
        self._controller: Any = None

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        return "250 Message accepted"

    @property
    def messages(self) -> list[Any]:
        from email import message_from_bytes, policy

        return [message_from_bytes(e.content, policy=policy.default) for e in self.envelopes]

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class Startable(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


S = TypeVar("S", bound=Startable)


@contextmanager
def running(server: S) -> Iterator[S]:
    """A server started for the length of a fixture, and stopped however it ends."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running(SmtpServer()) as server:
        yield server


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    # A directory without a .env, so only what a test sets is configured.
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def servers() -> Iterator[list[DevServer]]:
    """The dev processes a test starts; killed after it, whatever its outcome."""
    started: list[DevServer] = []
    yield started
    for server in started:  # a failed assertion must not leave a server running
        if server.process.poll() is None:
            server.stop(signal.SIGKILL)


# `SCHOOLBELL_QUERY_SHAPES=FILE uv run pytest ...` records the shape of every query the run
# sends to the database and writes to FILE each one no declared index serves (and where in
# app/ it was asked), for tests/core/test_query_indexes.py's list to be checked against the
# whole suite rather than its own flows.
_query_shapes_report = os.environ.get("SCHOOLBELL_QUERY_SHAPES")


@pytest.fixture(autouse=True, scope="session")
def _record_query_shapes() -> Iterator[None]:
    if not _query_shapes_report:
        yield
        return
    from app.documents import DOCUMENT_MODELS
    from tests.query_shapes import declared_indexes, recording

    with recording() as recorded:
        yield
    from tests.core.test_query_indexes import ALLOWED_SCANS

    missing = recorded.uncovered(declared_indexes(DOCUMENT_MODELS), ALLOWED_SCANS)
    lines = [f"{len(recorded.shapes)} query shapes, {len(missing)} on no declared index"]
    lines += [f"{shape.describe()}  <- {source}" for shape, source in missing.items()]
    lines += ["", "every shape recorded:"]
    lines += [
        f"{shape.describe()}  <- {source}" for shape, source in sorted(recorded.shapes.items())
    ]
    Path(_query_shapes_report).write_text("\n".join(lines) + "\n", encoding="utf-8")
