"""Prometheus metrics: what is counted, and who may read them.

The API serves `/metrics` on its own port; a production worker serves its own (the
counters of all its processes, through prometheus-client's multiprocess mode) on
WORKER_METRICS_PORT. Both answer the loopback address, and other addresses only with
`Authorization: Bearer $METRICS_TOKEN`.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.core.config import get_settings

log = logging.getLogger(__name__)

# The *_created series double what is sent and help no dashboard.
disable_created_metrics()

HTTP_REQUESTS = Counter(
    "schoolbell_http_requests",
    "HTTP requests answered, by route template and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "schoolbell_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EMAILS = Counter(
    "schoolbell_emails",
    "Emails by what happened to them: queued, sent, retry (failed, tried again later), dead.",
    ["status"],
)
EMAIL_DELAY = Histogram(
    "schoolbell_email_delay_seconds",
    "Time from an email entering the outbox to the SMTP server accepting it.",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600),
)
for _status in ("queued", "sent", "retry", "dead"):
    EMAILS.labels(_status)  # present at 0 from the start, so a rate() has a baseline
JOB_RUNS = Counter(
    "schoolbell_jobs",
    "Background job runs (Celery tasks: fan-outs, digests, email sends...) by outcome.",
    ["job", "outcome"],
)
JOB_DURATION = Histogram(
    "schoolbell_job_duration_seconds",
    "Time a background job run took, by job (announcements.fan_out, digests.scan...).",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

UNMATCHED_ROUTE = "unmatched"

# --- figures read from the database at scrape time --------------------------------------

Gauges = dict[str, tuple[str, list[tuple[dict[str, str], float]]]]
GaugeSource = Callable[[], Awaitable[Gauges]]

_sources: list[GaugeSource] = []
_latest: Gauges = {}
_latest_lock = threading.Lock()


def add_gauge_source(source: GaugeSource) -> None:
    """`source` returns {metric name: (help, [(labels, value), ...])}, read before each scrape.
    The app wires its sources in (outbox depth), since core does not know the outbox."""
    if source not in _sources:
        _sources.append(source)


class _ScrapeTimeGauges(Collector):
    def collect(self) -> Iterable[GaugeMetricFamily]:
        with _latest_lock:
            latest = dict(_latest)
        for name, (documentation, samples) in latest.items():
            labels = sorted({key for sample_labels, _ in samples for key in sample_labels})
            family = GaugeMetricFamily(name, documentation, labels=labels)
            for sample_labels, value in samples:
                family.add_metric([sample_labels.get(key, "") for key in labels], value)
            yield family


REGISTRY.register(_ScrapeTimeGauges())


async def _refresh_gauges() -> None:
    fresh: Gauges = {}
    for source in _sources:
        try:
            fresh.update(await source())
        except Exception:  # a slow or down database must not take the other metrics away
            log.warning("could not read figures for /metrics", exc_info=True)
    with _latest_lock:
        _latest.clear()
        _latest.update(fresh)


# --- who may read them -------------------------------------------------------------------


def may_read_metrics(client_host: str | None, authorization: str | None, token: str | None) -> bool:
    """Loopback always; anyone else only with the configured bearer token."""
    try:
        if client_host is not None and ipaddress.ip_address(client_host).is_loopback:
            return True
    except ValueError:
        pass
    if not token or not authorization:
        return False
    scheme, _, offered = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(offered.strip(), token)


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    token = get_settings().metrics_token
    client = request.client.host if request.client else None
    if not may_read_metrics(client, request.headers.get("authorization"), token):
        return Response(
            "Metrics are served to the loopback address, or with "
            "'Authorization: Bearer <METRICS_TOKEN>' when METRICS_TOKEN is set.\n",
            status_code=403,
            media_type="text/plain",
        )
    await _refresh_gauges()
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


# --- a worker's own endpoint -----------------------------------------------------------------


def serve_worker_metrics(*, host: str, port: int, token: str | None) -> Any:
    """Serve the metrics of every process of this worker (multiprocess mode: the environment
    variable PROMETHEUS_MULTIPROC_DIR must have been set before prometheus_client was
    imported). Returns the server; it runs on a daemon thread."""
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from prometheus_client import make_wsgi_app, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    metrics_app = make_wsgi_app(registry)

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not found: the metrics are at /metrics\n"]
        if not may_read_metrics(
            environ.get("REMOTE_ADDR"), environ.get("HTTP_AUTHORIZATION"), token
        ):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"Metrics need 'Authorization: Bearer <METRICS_TOKEN>' from this address\n"]
        return metrics_app(environ, start_response)

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    class ThreadingServer(WSGIServer):
        daemon_threads = True

    server = make_server(
        host, port, guarded, server_class=ThreadingServer, handler_class=QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    return server
