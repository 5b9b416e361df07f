"""What every `schoolbell` command needs before it runs: checked settings, reachable
services, dev's data folder (its lock, its JWT secret, a database file that cannot be read),
logging, and serving an app."""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

from fastapi import FastAPI

from app.core import config
from app.core.config import Settings

try:  # POSIX only; on other systems the data dir is simply not locked.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

JWT_SECRET_FILE = "jwt_secret"
LOCK_FILE = "lock"

EXIT_FAILED = 1
EXIT_CONFIG = 2


class CommandError(Exception):
    """Ends the command with a message on stderr and the given exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED, *, lines: bool = False) -> None:
        super().__init__(message)
        self.code = code
        # Each line a message of its own (one per unreachable service), each with the prefix.
        self.lines = lines


def load_settings(*, production: bool = False, needs_redis: bool = False) -> Settings:
    """Every setting checked before anything runs; all the bad ones named in one message."""
    try:
        return config.load_settings(production=production, needs_redis=needs_redis)
    except config.SettingsError as exc:
        count = len(exc.problems)
        listing = "\n".join(f"  - {problem}" for problem in exc.problems)
        raise CommandError(
            f"refusing to start: {count} setting{'s' if count > 1 else ''} to fix "
            f"(environment or ./.env; see .env.example):\n{listing}",
            EXIT_CONFIG,
        ) from None


def require_reachable(settings: Settings, *, mongodb: bool, redis: bool) -> None:
    """Say in one line per service which configured MongoDB or Redis does not answer, and
    stop, rather than hang in a driver's retries and print its traceback."""
    from app.core.startup import unreachable_services

    problems = unreachable_services(settings, mongodb=mongodb, redis=redis)
    if problems:
        raise CommandError("\n".join(problems), EXIT_CONFIG, lines=True)


def move_aside_unreadable_database(data_dir: Path) -> None:
    """The JSON database of earlier versions, when damaged, is renamed, never overwritten, and
    the operator is told (an unreadable journal or snapshot file the store moves aside and
    names itself as it loads)."""
    from datetime import UTC, datetime

    from app.core.embedded_legacy import LEGACY_SNAPSHOT_FILE, move_aside_if_unreadable

    moved = move_aside_if_unreadable(data_dir, now=datetime.now(UTC))
    if moved is None:
        return
    moved_to, reason = moved
    say(
        f"warning: the embedded database {data_dir / LEGACY_SNAPSHOT_FILE} could not be "
        f"read ({reason}).\n"
        f"  It was moved to {moved_to} and dev starts with an empty database.\n"
        f"  To recover: stop dev, repair the moved file (or take a backup copy) and put it "
        f"back as {data_dir / LEGACY_SNAPSHOT_FILE}; or delete it if the data does not "
        "matter.",
        sys.stderr,
    )


def dev_jwt_secret(data_dir: Path) -> str:
    """A secret kept in the data dir, so tokens stay valid across `schoolbell dev` restarts."""
    path = data_dir / JWT_SECRET_FILE
    with contextlib.suppress(FileNotFoundError):
        secret = path.read_text(encoding="utf-8").strip()
        if secret:
            return secret
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return secret


@contextlib.contextmanager
def data_dir_lock(data_dir: Path, *, purpose: str) -> Iterator[None]:
    """One process at a time owns the embedded database, or the last snapshot written wins."""
    # The snapshot holds password hashes: keep the folder private to its owner.
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(data_dir / LOCK_FILE, "a+", encoding="utf-8") as handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise CommandError(
                    f"{data_dir} is in use by another schoolbell process "
                    f"(a running `schoolbell dev`?); stop it before {purpose}"
                ) from exc
        yield


def add_startup(app: FastAPI, hook: Callable[[], Awaitable[None]]) -> None:
    """Run `hook` once the app's own startup (database, snapshot) is done."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        async with inner(application) as state:
            await hook()
            yield state

    app.router.lifespan_context = lifespan


def say(message: str, stream: IO[str] | None = None) -> None:
    print(message, file=stream or sys.stdout, flush=True)


def start_logging(settings: Settings, level: str | None = None) -> None:
    from app.core.logs import configure_logging

    configure_logging(log_format=settings.log_format, level=(level or settings.log_level).upper())


def serve(app: FastAPI, host: str, port: int) -> None:
    import logging

    import uvicorn

    # The app's own notices (a background save, a worker that died) next to uvicorn's.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s:  %(name)s: %(message)s")
    logging.getLogger("app").setLevel(logging.INFO)

    # uvicorn turns SIGINT/SIGTERM into a graceful stop that runs the lifespan shutdown.
    # Its own access line is off: RequestObserver writes one per request, with its id. Its
    # proxy handling is off too: the app's own follows FORWARDED_ALLOW_IPS.
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, proxy_headers=False)
