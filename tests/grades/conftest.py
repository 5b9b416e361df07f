"""Fixtures the grades tests share."""

from __future__ import annotations

import pytest

from app.auth.models import User
from app.schools.guardians import link_guardian
from tests.conftest import World


@pytest.fixture
async def parent(world: World) -> User:
    """The world's parent, linked to the world's student (and so told of their grades)."""
    assert world.parent.id and world.student.id
    await link_guardian(parent_id=world.parent.id, student_id=world.student.id)
    return world.parent
