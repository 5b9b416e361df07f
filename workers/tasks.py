"""Thin Celery tasks, one per registered job, named `domain.verb`: take ids, call a service."""

from __future__ import annotations

from typing import Any

from celery import Celery
from pymongo.errors import PyMongoError

from app import jobs as _registered_jobs  # noqa: F401  (fills the job registry)
from app.core.jobs import JOBS, JobFunction, run_job
from workers import runtime


def _task_body(name: str, function: JobFunction) -> Any:
    def body(**kwargs: Any) -> Any:
        return runtime.run(run_job(name, kwargs))

    body.__name__ = function.__name__
    body.__doc__ = function.__doc__
    return body


def register_tasks(celery_app: Celery) -> None:
    for name, (_queue, function) in JOBS.items():
        celery_app.task(
            name=name,
            # A database hiccup is worth retrying; the jobs are idempotent.
            autoretry_for=(PyMongoError,),
            retry_backoff=True,
            max_retries=5,
            shared=False,
        )(_task_body(name, function))
