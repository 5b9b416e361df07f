"""Fixtures for the announcement tests: the notification tests' campus."""

from __future__ import annotations

import pytest

from tests.conftest import UserFactory, World
from tests.notifications.helpers import Campus, build_campus


@pytest.fixture
async def campus(world: World, make_user: UserFactory) -> Campus:
    return await build_campus(world, make_user)
