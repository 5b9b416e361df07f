"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.core.db import ping
from app.core.jobs import waiting_jobs

router = APIRouter(tags=["operations"])

# A probe answers in time even when a driver would keep retrying a dead host for 30 s.
PROBE_SECONDS = 3.0


class Health(BaseModel):
    """A named answer, so a generated client does not name it after the operation."""

    status: Literal["ok"]


@router.get("/health", operation_id="getHealth")
async def health() -> Health:
    """The process is up."""
    return Health(status="ok")


READY_RETRY_SECONDS = 5


@router.get(
    "/ready", operation_id="getReadiness", responses={503: {"description": "A dependency is down"}}
)
async def ready(request: Request) -> Any:
    """The configured MongoDB and Redis answer and the embedded worker and beat run;
    503 names what is down. `jobs_waiting` says how much background work is recorded and
    not yet done: a backlog drains while the API serves, so it does not make this 503."""
    down: list[str] = []
    jobs_waiting: int | None = None
    try:
        await asyncio.wait_for(ping(request.app.state.mongo_client), PROBE_SECONDS)
        jobs_waiting = await asyncio.wait_for(waiting_jobs(), PROBE_SECONDS)
    except Exception:
        down.append("mongodb")
    redis = request.app.state.redis
    if redis is not None:
        try:
            await asyncio.wait_for(redis.ping(), PROBE_SECONDS)
        except Exception:
            down.append("redis")
    for check in getattr(request.app.state, "liveness_checks", []):
        down.extend(check())
    reasons = [f"{', '.join(down)} unreachable"] if down else []
    # Checks that say in a sentence what is wrong (a data folder that cannot be written).
    for problem_check in getattr(request.app.state, "problem_checks", []):
        if (problem := problem_check()) is not None:
            down.append(problem[0])
            reasons.append(problem[1])
    if down:
        return JSONResponse(
            {
                "status": "unavailable",
                "down": down,
                "detail": f"Not ready: {'; '.join(reasons)}",
                "jobs_waiting": jobs_waiting,
            },
            status_code=503,
            # As every 503 says: a load balancer or client asks again, not at once.
            headers={"Retry-After": str(READY_RETRY_SECONDS)},
        )
    return {"status": "ready", "jobs_waiting": jobs_waiting}
