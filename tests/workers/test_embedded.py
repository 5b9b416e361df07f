"""The worker and beat inside `schoolbell dev`: a dead one is seen, a stop is bounded."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from app.cli import build_app_with_embedded_workers
from tests.conftest import make_settings

HANG_SECONDS = 60


async def test_a_dead_beat_fails_ready_and_is_logged_and_stop_is_bounded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path / "data")
    app = build_app_with_embedded_workers(settings, snapshot_dir=None)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/ready")).status_code == 200

            (check,) = app.state.liveness_checks
            workers = check.__self__
            # Beat's loop ends on its own, as when its thread died under load.
            workers._beat.service.stop(wait=False)
            workers._beat.join(10)

            with caplog.at_level(logging.ERROR):
                ready = await client.get("/ready")
                assert ready.status_code == 503
                assert ready.json()["down"] == ["beat"]
                assert "Not ready: beat" in ready.json()["detail"]
                await client.get("/ready")
            logged = [r for r in caplog.records if "embedded Celery beat has stopped" in r.message]
            assert len(logged) == 1  # once, not at every probe
    finally:
        # With beat gone, stopping used to wait forever; now it is bounded (a hang check,
        # far above the few seconds it takes).
        await asyncio.wait_for(lifespan.__aexit__(None, None, None), HANG_SECONDS)
