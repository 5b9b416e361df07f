"""Operations: probes, body limit, CORS policy, and the Swagger UI an operator hands to users."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from mongomock_motor import AsyncMongoMockClient

from app.core import jobs
from app.core.config import SettingsError, load_settings
from app.delivery.service import SEND_EMAILS_JOB
from app.main import create_app
from tests.conftest import make_settings

ROOT = "http://test"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{ROOT}/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_with_the_embedded_database(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{ROOT}/ready")
    assert response.status_code == 200


async def test_ready_names_redis_when_it_is_down(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    app = create_app(settings, mongo_client=AsyncMongoMockClient(tz_aware=True))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ROOT) as http,
    ):
        response = await http.get("/ready")
    assert response.status_code == 503
    assert response.json()["down"] == ["redis"]
    assert "redis" in response.json()["detail"]
    # As documented for every 503.
    assert int(response.headers["Retry-After"]) >= 1


async def test_ready_names_mongodb_when_it_is_down(tmp_path: Path) -> None:
    url = f"mongodb://127.0.0.1:{closed_port()}/?serverSelectionTimeoutMS=300"
    # No lifespan: starting would wait for the database that the probe must report as down.
    app = create_app(make_settings(tmp_path, mongodb_url=url))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ROOT) as http:
        response = await http.get("/ready")
    app.state.mongo_client.close()
    assert response.status_code == 503
    assert response.json()["down"] == ["mongodb"]


@pytest.fixture
async def big_body() -> bytes:
    return b"x" * (2 * 1024 * 1024)


async def test_a_body_over_the_limit_is_refused(client: httpx.AsyncClient, big_body: bytes) -> None:
    response = await client.post(
        "/auth/login",
        content=big_body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


async def test_a_streamed_body_over_the_limit_is_refused(
    client: httpx.AsyncClient, big_body: bytes
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        # No Content-Length: the limit must hold while the body is being read.
        for start in range(0, len(big_body), 64 * 1024):
            yield big_body[start : start + 64 * 1024]

    response = await client.post(
        "/auth/login",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413


def test_wildcard_cors_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://school.example.org, *")
    with pytest.raises(SettingsError, match="CORS_ORIGINS .*'\\*' is refused"):
        load_settings(_env_file=None)


async def test_cors_allows_only_the_listed_origins(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, cors_origins="https://school.example.org")
    app = create_app(settings, mongo_client=AsyncMongoMockClient(tz_aware=True))
    preflight = {"Access-Control-Request-Method": "POST"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ROOT) as http:
        allowed = await http.options(
            "/api/v1/auth/login", headers={"Origin": "https://school.example.org", **preflight}
        )
        refused = await http.options(
            "/api/v1/auth/login", headers={"Origin": "https://evil.example.com", **preflight}
        )
    assert allowed.headers["access-control-allow-origin"] == "https://school.example.org"
    assert "access-control-allow-origin" not in refused.headers


async def test_swagger_ui_and_oauth2_password_flow(client: httpx.AsyncClient) -> None:
    docs = await client.get(f"{ROOT}/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text

    schema = (await client.get(f"{ROOT}/openapi.json")).json()
    flows = [
        scheme["flows"]
        for scheme in schema["components"]["securitySchemes"].values()
        if scheme["type"] == "oauth2"
    ]
    # Swagger's Authorize button posts the password form to this URL.
    assert flows and flows[0]["password"]["tokenUrl"] == "/api/v1/auth/login"
    assert "/api/v1/auth/login" in schema["paths"]


async def test_ready_and_metrics_say_how_many_jobs_wait(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{ROOT}/ready")).json()["jobs_waiting"] == 0
    # A retry for later: recorded and waiting, as a backlog is after a restart.
    await jobs.reserve(SEND_EMAILS_JOB, countdown=3600, email_ids=None)
    await jobs.reserve(SEND_EMAILS_JOB, countdown=3600, email_ids=None)

    ready = await client.get(f"{ROOT}/ready")
    metrics = (await client.get(f"{ROOT}/metrics")).text

    assert ready.status_code == 200  # a backlog is reported, not a reason to refuse traffic
    assert ready.json() == {"status": "ready", "jobs_waiting": 2}
    assert 'schoolbell_jobs_waiting{queue="email"} 2.0' in metrics
    assert 'schoolbell_jobs_waiting{queue="fanout"} 0.0' in metrics
