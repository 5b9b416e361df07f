"""POST /announcements is rate limited per author."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.announcements.models import Announcement
from app.core.config import Settings
from tests.announcements.helpers import Login, announce
from tests.conftest import make_settings
from tests.notifications.helpers import Campus


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Overrides the shared fixture, so `app` and `client` are built with this limit.
    return make_settings(tmp_path / "data", announcement_rate="2/minute")


async def test_third_announcement_in_a_minute_is_429(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    admin = login_as(campus.people["admin"])
    for n in range(2):
        assert (await announce(client, admin, campus, title=f"n{n}")).status_code == 202
    response = await announce(client, admin, campus, title="one too many")
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert await Announcement.find_all().count() == 2


async def test_the_limit_is_per_author(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    admin = login_as(campus.people["admin"])
    for n in range(2):
        await announce(client, admin, campus, title=f"n{n}")
    assert (await announce(client, admin, campus)).status_code == 429
    teacher = await announce(
        client, login_as(campus.people["t5a"]), campus, class_ids=[str(campus.class_5a.id)]
    )
    assert teacher.status_code == 202


async def test_a_replay_with_the_same_key_is_not_counted(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    admin = login_as(campus.people["admin"])
    first = await announce(client, admin, campus, key="retry-me")
    # A client retrying a lost answer gets the first result back, however often it asks.
    for _ in range(3):
        replay = await announce(client, admin, campus, key="retry-me")
        assert replay.status_code == 202
        assert replay.json()["id"] == first.json()["id"]
    assert (await announce(client, admin, campus, title="second")).status_code == 202
