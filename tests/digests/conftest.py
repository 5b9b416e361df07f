"""Digest tests send through a real SMTP server and run on a clock the test sets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.auth.models import User
from app.core.config import Settings
from tests.conftest import SmtpServer, UserFactory, World, make_settings
from tests.digests.helpers import Family, build_family


@pytest.fixture
def settings(tmp_path: Path, smtp_server: SmtpServer) -> Settings:
    return make_settings(tmp_path / "data", smtp_host="127.0.0.1", smtp_port=smtp_server.port)


@pytest.fixture
async def family(world: World, make_user: UserFactory) -> Family:
    return await build_family(world, make_user)


@pytest.fixture
def teacher(family: Family, login_as: Callable[[User], dict[str, str]]) -> dict[str, str]:
    """The world teacher's headers: the one who grades the family's children."""
    return login_as(family.world.teacher)
