"""Helpers for the accounts tests: reading mailed tokens, building apps with other settings."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from mongomock_motor import AsyncMongoMockClient

from app.core.config import Settings
from app.main import create_app
from tests.conftest import make_settings

NEW_PASSWORD = "a-brand-new-passphrase"


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/auth/login", data={"username": email, "password": password})


async def login_pair(client: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    response = await login(client, email, password)
    assert response.status_code == 200, response.text
    return response.json()


def bearer(pair: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def outbox(settings: Settings) -> list[EmailMessage]:
    """Every message the app wrote to the local outbox, oldest first."""
    folder = settings.data_dir / "outbox"
    if not folder.exists():
        return []
    parser = BytesParser(policy=policy.default)
    return [parser.parsebytes(path.read_bytes()) for path in sorted(folder.glob("*.eml"))]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def mailed_token(settings: Settings, *, to: str, path: str) -> str:
    """The token in the newest link to `path` mailed to `to`."""
    for message in reversed(outbox(settings)):
        if message["To"] == to:
            found = re.search(rf"/{path}\?token=([A-Za-z0-9_\-]+)", text_of(message))
            if found:
                return found.group(1)
    raise AssertionError(f"no {path} link mailed to {to}")


AppClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def app_client(tmp_path: Path) -> AppClient:
    """A client on a fresh app built with settings overrides (rate limits, SMTP, bootstrap)."""

    @asynccontextmanager
    async def build(mongo_client: Any = None, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = make_settings(tmp_path / "data", **overrides)
        application = create_app(
            settings, mongo_client=mongo_client or AsyncMongoMockClient(tz_aware=True)
        )
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test/api/v1"
            ) as http:
                yield http

    return build
