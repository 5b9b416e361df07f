"""Thin Celery tasks, one per registered job, named `domain.verb`: take ids, call a service."""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from pymongo.errors import PyMongoError

from app import jobs as _registered_jobs  # noqa: F401  (fills the job registry)
from app.core import jobs
from app.core.jobs import JobFunction
from workers import runtime


def _task_body(name: str, function: JobFunction) -> Any:
    def body(task: Task, **kwargs: Any) -> Any:
        # Sent by the API with the id of the request that enqueued this job; beat sends none.
        request_id = getattr(task.request, jobs.REQUEST_ID_HEADER, None)
        return runtime.run(jobs.run(name, kwargs, request_id=request_id))

    body.__name__ = function.__name__
    body.__doc__ = function.__doc__
    return body


def register_tasks(celery_app: Celery) -> None:
    for name, (_queue, function) in jobs.JOBS.items():
        celery_app.task(
            name=name,
            bind=True,
            # A database hiccup is worth retrying; the jobs are idempotent.
            autoretry_for=(PyMongoError,),
            retry_backoff=True,
            max_retries=5,
            shared=False,
        )(_task_body(name, function))
