"""One log line and one set of metrics per HTTP request and per background job run."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logs import REQUEST_ID_HEADER, traced
from app.core.metrics import HTTP_DURATION, HTTP_REQUESTS, JOB_DURATION, JOB_RUNS, UNMATCHED_ROUTE

request_log = logging.getLogger("schoolbell.request")
job_log = logging.getLogger("schoolbell.job")


def _route_template(scope: Scope) -> str:
    # The template (/api/v1/grades/{grade_id}), never the path: ids would make every
    # request a series of its own.
    # FastAPI 0.16x keeps included routers as such, so scope["route"] has the path inside
    # its router (/grades/{grade_id}); the full template is on the route context it chose.
    # A test pins this, in case a FastAPI upgrade moves it.
    chosen = scope.get("fastapi", {}).get("effective_route_context")
    for route in (chosen, scope.get("route")):
        path = getattr(route, "path_format", None)
        if path:
            return str(path)
    return UNMATCHED_ROUTE


class RequestObserver:
    """The outermost middleware: gives the request its id (kept from X-Request-ID when a
    proxy sent a plain one), returns it in X-Request-ID, and on the way out writes one log
    line and counts the request with its route template, status and duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = None
        for name, value in scope.get("headers", []):
            if name == REQUEST_ID_HEADER.lower().encode():
                offered = value.decode("latin-1")
        started = time.perf_counter()
        status = 500
        with traced(offered) as trace:

            async def send_with_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    headers = list(message.get("headers", []))
                    headers.append((REQUEST_ID_HEADER.encode(), trace.request_id.encode()))
                    message = {**message, "headers": headers}
                await send(message)

            try:
                await self.app(scope, receive, send_with_id)
            finally:
                duration = time.perf_counter() - started
                method = scope.get("method", "")
                route = _route_template(scope)
                HTTP_REQUESTS.labels(method, route, str(status)).inc()
                HTTP_DURATION.labels(method, route).observe(duration)
                request_log.info(
                    "%s %s %s %.1fms request_id=%s user_id=%s",
                    method,
                    route,
                    status,
                    duration * 1000,
                    trace.request_id,
                    trace.user_id or "-",
                    extra={
                        "request_id": trace.request_id,
                        "user_id": trace.user_id,
                        "method": method,
                        "route": route,
                        "path": scope.get("path"),
                        "status": status,
                        "duration_ms": round(duration * 1000, 1),
                    },
                )


@runtime_checkable
class JobReport(Protocol):
    """A job result that says how the run went beyond "it ran" (a send job that delivered
    nothing did not simply succeed): its outcome and the figures for its log line."""

    @property
    def outcome(self) -> str: ...

    def figures(self) -> dict[str, int]: ...


async def run_job(
    name: str,
    function: Callable[..., Awaitable[Any]],
    kwargs: dict[str, Any],
    *,
    request_id: str | None,
) -> Any:
    """Run one job body under the id of the request that enqueued it (a fresh one for beat's
    jobs), then write one log line and count the outcome and duration. A result that is a
    `JobReport` names the outcome and adds its figures to the line."""
    started = time.perf_counter()
    outcome = "failed"
    figures: dict[str, int] = {}
    with traced(request_id) as trace:
        try:
            result = await function(**kwargs)
            outcome = "succeeded"
            if isinstance(result, JobReport):
                outcome, figures = result.outcome, result.figures()
            return result
        finally:
            duration = time.perf_counter() - started
            JOB_RUNS.labels(name, outcome).inc()
            JOB_DURATION.labels(name).observe(duration)
            job_log.log(
                logging.INFO if outcome == "succeeded" else logging.WARNING,
                "job %s %s in %.1fms%s request_id=%s",
                name,
                outcome,
                duration * 1000,
                "".join(f" {key}={value}" for key, value in figures.items()),
                trace.request_id,
                extra={
                    "request_id": trace.request_id,
                    "job": name,
                    "outcome": outcome,
                    "duration_ms": round(duration * 1000, 1),
                    "figures": figures or None,
                },
            )
