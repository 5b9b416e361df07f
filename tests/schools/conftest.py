"""Callers for the schools tests: each role of the world's school, and an admin of another."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from app.auth.models import Role, User
from app.schools.models import School
from tests.conftest import UserFactory, World

REFUSED_ROLES = ["teacher", "student", "parent", "foreign_admin"]


@pytest.fixture
async def foreign_admin(world: World, make_user: UserFactory) -> User:
    other = School(name="Other school")
    await other.insert()
    assert other.id is not None
    return await make_user(Role.admin, school_ids=[other.id])


@pytest.fixture
def as_role(
    world: World, foreign_admin: User, login_as: Callable[[User], dict[str, str]]
) -> Callable[[str], dict[str, str]]:
    """Headers for a caller named by role: the world's admin, teacher, student, parent, or
    `foreign_admin`, who runs another school."""

    def headers(who: str) -> dict[str, str]:
        users = {
            "admin": world.admin,
            "teacher": world.teacher,
            "student": world.student,
            "parent": world.parent,
            "foreign_admin": foreign_admin,
        }
        return login_as(users[who])

    return headers


class DriverLikeCollection:
    """A collection whose calls suspend, as a real driver's do on I/O, and whose first call
    in each of two requests waits until both requests have reached it.

    Over mongomock and ASGI one request otherwise runs to its end before the other reaches
    the database, and a check-then-write implementation would pass a race test. `methods`
    limits the wrapping to those calls (others, e.g. Beanie's own, pass straight through).
    """

    def __init__(self, inner: Any, methods: set[str] | None = None) -> None:
        self.inner = inner
        self.methods = methods
        self.gate = asyncio.Barrier(2)
        self.arrived: set[asyncio.Task[Any] | None] = set()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if self.methods is not None and name not in self.methods:
            return attribute

        async def call(*args: Any, **kwargs: Any) -> Any:
            task = asyncio.current_task()
            if task not in self.arrived:
                self.arrived.add(task)
                await asyncio.wait_for(self.gate.wait(), timeout=5)
            await asyncio.sleep(0)
            return await attribute(*args, **kwargs)

        return call
