"""The attendance tests send to a real SMTP server (aiosmtpd), as parents' mail is the point."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.config import Settings
from tests.conftest import make_settings, running
from tests.delivery.conftest import CountingSmtpServer


@pytest.fixture
def smtp_server() -> Iterator[CountingSmtpServer]:
    with running(CountingSmtpServer()) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, smtp_server: CountingSmtpServer) -> Settings:
    return make_settings(tmp_path / "data", smtp_host="127.0.0.1", smtp_port=smtp_server.port)
