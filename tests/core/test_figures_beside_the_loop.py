"""Figures on the embedded store are computed beside the event loop: a long /stats does not
hold up the requests that come in meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from mongomock import aggregate as mongomock_aggregate

from app.auth.models import User
from tests.conftest import World

LONG_QUERY_SECONDS = 1.5


async def test_a_long_stats_query_does_not_hold_up_a_health_check_asked_meanwhile(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    world: World,
    login_as: Callable[[User], dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    facet: Any = mongomock_aggregate._PIPELINE_HANDLERS["$facet"]

    def long_facet(*args: Any) -> Any:
        # As a school's year of notifications keeps mongomock busy: Python, never awaiting.
        time.sleep(LONG_QUERY_SECONDS)
        return facet(*args)

    monkeypatch.setitem(mongomock_aggregate._PIPELINE_HANDLERS, "$facet", long_facet)
    answered: list[str] = []

    async def stats() -> None:
        response = await client.get("/stats", headers=login_as(world.admin))
        assert response.status_code == 200, response.text
        answered.append("stats")

    async def health() -> None:
        await asyncio.sleep(0.3)  # /stats is computing by now
        response = await site.get("/health")
        assert response.status_code == 200, response.text
        answered.append("health")

    await asyncio.gather(stats(), health())
    assert answered == ["health", "stats"], "/health was answered only once /stats was"
