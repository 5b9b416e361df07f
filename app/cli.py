"""The `schoolbell` command: dev (embedded, one process), api, worker, beat (production),
create-admin."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from app.core.config import Settings
from app.core.setting_kinds import MIN_JWT_SECRET_LENGTH, MIN_PASSWORD_LENGTH

if TYPE_CHECKING:
    from app.auth.models import User

from app.launch import (
    EXIT_CONFIG,
    CommandError,
    add_startup,
    data_dir_lock,
    dev_jwt_secret,
    load_settings,
    move_aside_unreadable_database,
    require_reachable,
    say,
    serve,
    start_logging,
)

# --- commands --------------------------------------------------------------------------------


def build_app_with_embedded_workers(settings: Settings, *, snapshot_dir: Path | None) -> FastAPI:
    """The API with a Celery worker and beat inside its process, on the in-memory broker
    (or Redis when REDIS_URL is set): the same tasks and queues as production."""
    from app.core.jobs import CeleryDispatcher
    from app.main import create_app
    from workers.celery_app import create_celery
    from workers.embedded import EmbeddedWorkers, run_embedded_workers

    celery_app = create_celery(settings)
    app = create_app(settings, snapshot_dir=snapshot_dir, dispatcher=CeleryDispatcher(celery_app))
    schedule_file = settings.data_dir / "beat-schedule"
    run_embedded_workers(
        app,
        EmbeddedWorkers(
            celery_app, schedule_file=schedule_file, lane_app=lambda: create_celery(settings)
        ),
        owns_all_work=snapshot_dir is not None,
    )
    return app


def dev_base_url(settings: Settings, host: str, port: int) -> str:
    """PUBLIC_BASE_URL when set, else the address `dev` listens on, so mailed links open."""
    if "public_base_url" in settings.model_fields_set:
        return settings.public_base_url
    # A wildcard address is not one a browser can open; the same machine's loopback is.
    reachable = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in reachable and not reachable.startswith("["):
        reachable = f"[{reachable}]"
    return f"http://{reachable}:{port}"


def cmd_dev(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.mongodb_url:
        say(
            "warning: MONGODB_URL is ignored by `schoolbell dev`, which always uses the embedded "
            "database; use `schoolbell api` to run against MongoDB",
            sys.stderr,
        )
    require_reachable(settings, mongodb=False, redis=True)
    start_logging(settings)
    data_dir = settings.data_dir.expanduser().resolve()
    with data_dir_lock(data_dir, purpose="starting another one"):
        move_aside_unreadable_database(data_dir)
        secret = settings.jwt_secret or dev_jwt_secret(data_dir)
        settings = settings.model_copy(
            update={
                "mongodb_url": None,
                "jwt_secret": secret,
                "data_dir": data_dir,
                "public_base_url": dev_base_url(settings, args.host, args.port),
                # A write to the embedded database costs no network: record every email's
                # outcome at once, over one connection, so a killed dev sends at most one
                # email twice.
                "email_outcome_block": 1,
                "smtp_connections": 1,
            }
        )
        app = build_app_with_embedded_workers(settings, snapshot_dir=data_dir)
        if args.demo:
            add_startup(app, lambda: _load_demo(args.host, args.port))
        say(f"Schoolbell dev: embedded database kept in {data_dir}")
        serve(app, args.host, args.port)
    return 0


async def _load_demo(host: str, port: int) -> None:
    from app.demo import credentials_table, load_demo

    inserted = await load_demo()
    say("Demo school loaded." if inserted else "Demo school already loaded; not added again.")
    say(credentials_table())
    say(f"Try them in Swagger UI: http://{host}:{port}/docs (Authorize, username = email)")


def cmd_api(args: argparse.Namespace) -> int:
    settings = load_settings(production=True)
    require_reachable(settings, mongodb=True, redis=True)
    start_logging(settings)
    # Imported after the checks: importing the app takes seconds.
    if settings.redis_url:
        from app.core.jobs import CeleryDispatcher
        from app.main import create_app
        from workers.celery_app import create_celery

        app = create_app(settings, dispatcher=CeleryDispatcher(create_celery(settings)))
    else:
        say(
            "warning: REDIS_URL is unset, so the Celery worker and beat run inside this API "
            "process; set REDIS_URL and run `schoolbell worker` and `schoolbell beat` to scale",
            sys.stderr,
        )
        app = build_app_with_embedded_workers(settings, snapshot_dir=None)
    serve(app, args.host, args.port)
    return 0


def _production_celery(settings: Settings, *, loglevel: str | None) -> Any:
    from celery.signals import setup_logging

    from workers.celery_app import create_celery

    @setup_logging.connect(weak=False)
    def use_our_logging(**_: Any) -> None:
        # Connected, so Celery leaves the root logger to us: the same format as the API.
        start_logging(settings, loglevel)

    return create_celery(settings)


def use_multiprocess_metrics() -> None:
    """Before prometheus_client is first imported: the worker's processes write their
    counters to files in one folder, which the worker's metrics endpoint adds up."""
    import tempfile

    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        # Left from an earlier run: stale counters of processes that no longer exist.
        for stale in Path(folder).glob("*.db"):
            stale.unlink()
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="schoolbell-metrics-")


def cmd_worker(args: argparse.Namespace) -> int:
    settings = load_settings(production=True, needs_redis=True)
    require_reachable(settings, mongodb=True, redis=True)
    if settings.worker_metrics_port:
        use_multiprocess_metrics()
    celery_app = _production_celery(settings, loglevel=args.loglevel)
    from workers.celery_app import QUEUES

    if settings.worker_metrics_port:
        from celery.signals import worker_process_shutdown
        from prometheus_client import multiprocess

        from app.core.metrics import serve_worker_metrics

        @worker_process_shutdown.connect(weak=False)
        def forget_process(pid: int | None = None, **_: Any) -> None:
            multiprocess.mark_process_dead(pid or os.getpid())

        serve_worker_metrics(
            host=args.metrics_host, port=settings.worker_metrics_port, token=settings.metrics_token
        )
        say(f"Worker metrics at http://{args.metrics_host}:{settings.worker_metrics_port}/metrics")
    queues = args.queues or ",".join(QUEUES)
    argv = ["worker", "--loglevel", args.loglevel or settings.log_level, "--queues", queues]
    if args.concurrency:
        argv += ["--concurrency", str(args.concurrency)]
    celery_app.worker_main(argv)
    return 0


def cmd_beat(args: argparse.Namespace) -> int:
    settings = load_settings(production=True, needs_redis=True)
    require_reachable(settings, mongodb=False, redis=True)
    celery_app = _production_celery(settings, loglevel=args.loglevel)
    argv = ["beat", "--loglevel", args.loglevel or settings.log_level]
    if args.schedule:
        argv += ["--schedule", args.schedule]
    celery_app.start(argv)
    return 0


def cmd_create_admin(args: argparse.Namespace) -> int:
    password = args.password if args.password is not None else _prompt_password()
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CommandError(
            f"the password must be at least {MIN_PASSWORD_LENGTH} characters", EXIT_CONFIG
        )
    settings = load_settings()
    if settings.mongodb_url:
        require_reachable(settings, mongodb=True, redis=False)
        user = asyncio.run(_create_admin(settings, args.email, password, args.full_name))
    else:
        data_dir = settings.data_dir.expanduser().resolve()
        with data_dir_lock(data_dir, purpose="creating an admin in it"):
            settings = settings.model_copy(update={"data_dir": data_dir})
            user = asyncio.run(_create_admin(settings, args.email, password, args.full_name))
        say(f"(embedded database in {data_dir}, used by `schoolbell dev`)")
    say(f"Created admin {user.email} ({user.id})")
    return 0


def _prompt_password() -> str:
    if not sys.stdin.isatty():
        raise CommandError("--password is required when not run in a terminal", EXIT_CONFIG)
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise CommandError("the passwords differ", EXIT_CONFIG)
    return first


async def _create_admin(settings: Settings, email: str, password: str, full_name: str) -> User:
    from pymongo.errors import PyMongoError

    from app.auth import service as auth_service
    from app.core.db import init_database, is_embedded, make_client
    from app.core.embedded import EmbeddedDataError, EmbeddedStore
    from app.core.embedded_legacy import UnreadableSnapshot
    from app.core.errors import AppError
    from app.documents import DOCUMENT_MODELS

    client = make_client(settings)
    try:
        database = await init_database(client, settings.mongodb_db, DOCUMENT_MODELS)
        snapshot = EmbeddedStore(database, settings.data_dir) if is_embedded(client) else None
        if snapshot is not None:
            try:
                await snapshot.load()
            except (UnreadableSnapshot, EmbeddedDataError) as exc:
                raise CommandError(
                    f"the embedded database in {settings.data_dir} could not be read ({exc}); "
                    "start `schoolbell dev` once to move it aside, or repair it",
                    EXIT_CONFIG,
                ) from None
        try:
            user = await auth_service.create_admin(
                email=email, password=password, full_name=full_name
            )
        except AppError as exc:
            raise CommandError(f"could not create the admin: {exc.detail}") from exc
        if snapshot is not None:
            await snapshot.stop()
        return user
    except PyMongoError as exc:
        raise CommandError(f"database error: {exc}") from exc
    finally:
        client.close()


# --- entry point -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="schoolbell",
        description="Schoolbell, a school e-diary API whose centre is notifications.",
        epilog="Configuration comes from environment variables and ./.env (see .env.example).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dev = commands.add_parser(
        "dev",
        help="run the API on an embedded database kept on disk (no MongoDB needed)",
        description=(
            "Run the API on an embedded in-memory database kept on disk in SCHOOLBELL_DATA_DIR "
            "(default ./.schoolbell) across restarts. MONGODB_URL is ignored. Without JWT_SECRET "
            "a secret is generated once and kept in the data dir."
        ),
    )
    dev.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    dev.add_argument("--port", type=int, default=8000, help="port to listen on (%(default)s)")
    dev.add_argument(
        "--demo",
        action="store_true",
        help="load a demo school (once) and print who can log in",
    )
    dev.set_defaults(handler=cmd_dev)

    api = commands.add_parser(
        "api",
        help="run the API against MongoDB (production)",
        description=(
            f"Run the API against MONGODB_URL. Refuses to start without MONGODB_URL or with a "
            f"JWT_SECRET shorter than {MIN_JWT_SECRET_LENGTH} characters."
        ),
    )
    api.add_argument("--host", default="0.0.0.0", help="address to listen on (%(default)s)")
    api.add_argument("--port", type=int, default=8000, help="port to listen on (%(default)s)")
    api.set_defaults(handler=cmd_api)

    worker = commands.add_parser(
        "worker",
        help="run a Celery worker (production; needs REDIS_URL and MONGODB_URL)",
        description="Run a Celery worker consuming the fanout, default and email queues.",
    )
    worker.add_argument("--queues", help="comma-separated queues (all by default)")
    worker.add_argument("--concurrency", type=int, help="worker processes (CPU count)")
    worker.add_argument("--loglevel", help="log level (LOG_LEVEL)")
    worker.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="address for the metrics endpoint when WORKER_METRICS_PORT is set (%(default)s)",
    )
    worker.set_defaults(handler=cmd_worker)

    beat = commands.add_parser(
        "beat",
        help="run Celery beat, the periodic scheduler (production; run exactly one)",
        description="Run Celery beat: scheduled announcements, digests and the outbox sweep.",
    )
    beat.add_argument("--schedule", help="file beat keeps its last run times in")
    beat.add_argument("--loglevel", help="log level (LOG_LEVEL)")
    beat.set_defaults(handler=cmd_beat)

    create_admin = commands.add_parser(
        "create-admin",
        help="create an admin account",
        description=(
            "Create an admin in the database at MONGODB_URL or, when it is unset, in the "
            "embedded database of `schoolbell dev` (stop dev first)."
        ),
    )
    create_admin.add_argument("--email", required=True)
    create_admin.add_argument(
        "--password", help="at least 8 characters; asked for when omitted in a terminal"
    )
    create_admin.add_argument("--full-name", default="Administrator")
    create_admin.set_defaults(handler=cmd_create_admin)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except CommandError as exc:
        for line in str(exc).splitlines() if exc.lines else [str(exc)]:
            say(f"schoolbell {args.command}: {line}", sys.stderr)
        return exc.code
    return code


if __name__ == "__main__":
    sys.exit(main())
