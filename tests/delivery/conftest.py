"""Fixtures for the delivery tests: the app sends to a real SMTP server that counts connections."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.config import Settings
from tests.conftest import SmtpServer, make_settings, running


class CountingSmtpServer(SmtpServer):
    """Also keeps the SMTP session (one per connection) each message arrived on, and
    answers 451 (try again later) for the addresses in `defer`."""

    def __init__(self) -> None:
        super().__init__()
        # Holding the sessions keeps their ids unique for the test's lifetime.
        self.sessions: list[Any] = []
        self.defer: set[str] = set()

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.defer:
            return "451 4.3.0 Mailbox busy, try again later"
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.sessions.append(session)
        return await super().handle_DATA(server, session, envelope)

    @property
    def connections(self) -> int:
        """How many SMTP connections delivered at least one message."""
        return len({id(session) for session in self.sessions})


@pytest.fixture
def smtp_server() -> Iterator[CountingSmtpServer]:
    with running(CountingSmtpServer()) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, smtp_server: CountingSmtpServer) -> Settings:
    return make_settings(tmp_path / "data", smtp_host="127.0.0.1", smtp_port=smtp_server.port)
