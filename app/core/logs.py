"""Log lines for people (LOG_FORMAT=text) or collectors (json), each carrying the request id.

The id of the request being served (or of the request that enqueued the job being run)
lives in a context variable; every log line written meanwhile carries it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

REQUEST_ID_HEADER = "X-Request-ID"
# An id a client or proxy sends is kept when it is short and plain; anything else is replaced.
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@dataclass
class Trace:
    """Who and what a log line is about. Mutable: an auth dependency deep in the request
    fills in the user, and the line written at the end of the request sees it."""

    request_id: str
    user_id: str | None = None


_current: ContextVar[Trace | None] = ContextVar("schoolbell_trace", default=None)


def new_request_id(offered: str | None = None) -> str:
    if offered and _ACCEPTABLE_ID.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


def current_trace() -> Trace | None:
    return _current.get()


def current_request_id() -> str | None:
    trace = _current.get()
    return trace.request_id if trace is not None else None


def note_user(user_id: object) -> None:
    """Record who the current request is from (called once authentication succeeded)."""
    trace = _current.get()
    if trace is not None:
        trace.user_id = str(user_id)


@contextmanager
def traced(request_id: str | None) -> Iterator[Trace]:
    trace = Trace(request_id=new_request_id(request_id))
    token = _current.set(trace)
    try:
        yield trace
    finally:
        _current.reset(token)


class _TraceFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        trace = _current.get()
        if not hasattr(record, "request_id"):
            record.request_id = trace.request_id if trace else None
        if not hasattr(record, "user_id"):
            record.user_id = trace.user_id if trace else None
        return True


# Fields a log call passes in `extra` that belong in the JSON object.
EXTRA_FIELDS = (
    "request_id",
    "user_id",
    "method",
    "route",
    "path",
    "status",
    "duration_ms",
    "job",
    "outcome",
    "figures",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in EXTRA_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        # Request and job lines already name their id in the message.
        if request_id and f"request_id={request_id}" not in line:
            line += f" request_id={request_id}"
        return line


def configure_logging(*, log_format: str, level: str) -> None:
    """One handler on the root logger, for this process and the libraries in it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(_TraceFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's own handlers would write its lines a second time, in another format.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # Celery's "Task ... received" and "... succeeded" would double the one line per job that
    # run_job writes; a failure is still written, at ERROR, with its traceback.
    for name in ("celery.worker.strategy", "celery.app.trace"):
        logging.getLogger(name).setLevel(logging.WARNING)
