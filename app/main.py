"""create_app(): lifespan (database, Redis), routers, error handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from redis import asyncio as aioredis
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app import jobs as _registered_jobs  # noqa: F401  (fills the job registry)
from app.auth import service as auth_service
from app.auth import user_cache
from app.auth.pages import router as account_pages
from app.auth.router import router as auth_router
from app.auth.router import users_router
from app.core.body_limit import BodySizeLimit
from app.core.config import Settings, get_settings, use_settings
from app.core.db import init_database, make_client
from app.core.docs import install_offline_docs
from app.core.embedded import EmbeddedDataError, EmbeddedStore
from app.core.errors import install_error_handlers
from app.core.home import router as home_page
from app.core.jobs import (
    Dispatcher,
    InlineDispatcher,
    JobRelay,
    job_gauges,
    resend_stopped_by_storage,
    use_dispatcher,
)
from app.core.metrics import add_gauge_source
from app.core.metrics import router as metrics_router
from app.core.observe import RequestObserver
from app.core.openapi import tidy_openapi
from app.core.ops import router as ops_router
from app.core.ratelimit import build_limiter
from app.delivery import gauges as delivery_gauges
from app.documents import DOCUMENT_MODELS
from app.migrations import migrate
from app.notifications.pages import api_router as unsubscribe_router
from app.notifications.pages import router as notification_pages
from app.notifications.router import router as notifications_router
from app.notifications.schemas import document_notice_data
from app.producers import PRODUCERS
from app.schools.members_router import router as members_router
from app.schools.pages import router as join_pages
from app.schools.router import router as schools_router
from app.subjects.router import router as subjects_router

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
REDIS_TIMEOUT_SECONDS = 2.0


async def _load_what_is_readable(store: EmbeddedStore) -> None:
    """The store moves an unreadable file aside, names it and stops; dev then starts from the
    files that are still readable rather than not at all."""
    while True:
        try:
            await store.load()
            return
        except EmbeddedDataError as exc:
            log.warning("%s", exc)


def _storage_problem(store: EmbeddedStore) -> Callable[[], tuple[str, str] | None]:
    def check() -> tuple[str, str] | None:
        problem = store.problem
        return (
            None if problem is None else ("storage", f"{problem}; writes answer 503 until it can")
        )

    return check


async def _follow_user_cache_forgets(settings: Settings) -> tuple[asyncio.Task[None], Any] | None:
    """With Redis, API processes tell each other which remembered users to drop."""
    if not settings.redis_url:
        return None
    # Its own client: a subscriber waits on reads, which the shared client's timeout cuts.
    channel_client = aioredis.from_url(
        settings.redis_url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )
    ready = asyncio.Event()
    task = asyncio.create_task(user_cache.follow_forgets(channel_client, ready=ready))
    with contextlib.suppress(TimeoutError):
        # Not ready in time (Redis away): serve anyway; cached users then live only
        # USER_CACHE_SECONDS, and the task keeps trying.
        await asyncio.wait_for(ready.wait(), REDIS_TIMEOUT_SECONDS)
    return task, channel_client


def create_app(
    settings: Settings | None = None,
    *,
    mongo_client: Any = None,
    snapshot_dir: Path | None = None,
    dispatcher: Dispatcher | None = None,
) -> FastAPI:
    """Build the API. `snapshot_dir` keeps the embedded database on disk (schoolbell dev);
    `dispatcher` sends background jobs (to Celery); without one they run inline."""
    settings = settings or get_settings()
    use_settings(settings)
    client = mongo_client if mongo_client is not None else make_client(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = await init_database(client, settings.mongodb_db, DOCUMENT_MODELS)
        use_dispatcher(dispatcher or InlineDispatcher())
        snapshot = None
        if snapshot_dir is not None:
            snapshot = EmbeddedStore(database, snapshot_dir)
            await _load_what_is_readable(snapshot)
            app.state.problem_checks.append(_storage_problem(snapshot))
            snapshot.when_writable_again(resend_stopped_by_storage)
            snapshot.start()
        await migrate()
        await auth_service.ensure_bootstrap_admin(settings=settings)
        relay = JobRelay()
        relay.start()
        following = await _follow_user_cache_forgets(settings)
        try:
            yield
        finally:
            if following is not None:
                task, channel_client = following
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                await channel_client.aclose()
            await relay.stop()
            if snapshot is not None:
                await snapshot.stop()
            if app.state.redis is not None:
                await app.state.redis.aclose()

    app = FastAPI(
        title="Schoolbell",
        version="0.1.0",
        description="School e-diary API whose centre is notifications.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_offline_docs(app, swagger_ui_parameters={"persistAuthorization": True})
    app.state.settings = settings
    app.state.mongo_client = client
    app.state.redis = (
        aioredis.from_url(
            settings.redis_url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        if settings.redis_url
        else None
    )
    # Parts that run beside the API (the embedded worker and beat) add a check here:
    # each returns the names of what has stopped, and /ready answers 503 naming them.
    app.state.liveness_checks = []
    # Checks that name what is wrong and say it in one line: (name, reason) or None.
    app.state.problem_checks = []
    app.state.limiter = build_limiter(settings)

    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Around every answer, a 413 or a CORS refusal included: one log line and metrics each.
    app.add_middleware(RequestObserver)
    # Outermost, so rate limits and logs see the client a trusted proxy names; the server
    # runs with its own proxy handling off, leaving FORWARDED_ALLOW_IPS one meaning.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)

    app.include_router(ops_router)
    app.include_router(metrics_router)
    add_gauge_source(delivery_gauges.outbox_gauges)
    add_gauge_source(job_gauges)
    # Pages people open from their email, at the site root.
    app.include_router(account_pages)
    app.include_router(notification_pages)
    for page_router in (page for producer in PRODUCERS for page in producer.pages):
        app.include_router(page_router)
    app.include_router(join_pages)
    app.include_router(home_page)
    for router in (
        auth_router,
        # /users/me before /users/{user_id}, which would otherwise take "me" for an id.
        users_router,
        members_router,
        schools_router,
        subjects_router,
        notifications_router,
        unsubscribe_router,
        *(router for producer in PRODUCERS for router in producer.routers),
    ):
        app.include_router(router, prefix=API_PREFIX)
    app.dependency_overrides[get_settings] = lambda: settings
    tidy_openapi(app, document_notice_data)
    return app
