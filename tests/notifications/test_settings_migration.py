"""Preferences and digest times stored inside user records (before notifications kept them
in a collection of their own) survive the upgrade: moved at start, once, nothing lost."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from beanie import PydanticObjectId
from mongomock_motor import AsyncMongoMockClient

from app.auth.models import Role, User
from app.core.db import init_database
from app.core.migrations import MigrationRecord
from app.documents import DOCUMENT_MODELS
from app.main import create_app
from app.notifications import digests
from app.notifications.models import NotificationSettings
from app.notifications.preferences import Preferences
from app.notifications.settings import adopt_embedded_preferences
from tests.conftest import default_password_hash, make_settings

DUE = datetime(2025, 6, 10, 8, tzinfo=UTC)


def legacy_user(name: str, **embedded: Any) -> dict[str, Any]:
    """A user record as versions before the move wrote it."""
    return {
        "_id": PydanticObjectId(),
        "email": f"{name}@legacy.example.org",
        "full_name": name.title(),
        "role": Role.parent.value,
        "password_hash": default_password_hash(),
        "school_ids": [],
        "locale": "ru",
        "timezone": "Asia/Vladivostok",
        "email_verified": True,
        "created_at": DUE,
        **embedded,
    }


@asynccontextmanager
async def started_on(
    tmp_path: Path, legacy_users: list[dict[str, Any]]
) -> AsyncIterator[httpx.AsyncClient]:
    """The API started on a database holding these user records as older versions wrote
    them, and a client of it."""
    mongo: Any = AsyncMongoMockClient(tz_aware=True)
    settings = make_settings(tmp_path / "data")
    await init_database(mongo, settings.mongodb_db, DOCUMENT_MODELS)
    await User.get_motor_collection().insert_many(legacy_users)
    app = create_app(settings, mongo_client=mongo)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as api:
            yield api


DAILY_EMAIL = {"grades": "daily", "announcements": "off"}
DAILY_IN_APP = {"grades": True, "announcements": False}
DAILY_QUIET = {
    "email": DAILY_EMAIL,
    "in_app": DAILY_IN_APP,
    "digest_hour": 18,
    "digest_weekday": 5,
    "quiet_hours": {"start": "21:00", "end": "07:00"},
    "min_priority": "normal",
    "include_grade_values": False,
}
# As it reads back: the topics registered since it was stored take their defaults.
DAILY_QUIET_READ = {
    **DAILY_QUIET,
    "email": {**DAILY_EMAIL, "homework": "daily", "attendance": "immediate"},
    "in_app": {**DAILY_IN_APP, "homework": True, "attendance": True},
}


async def test_embedded_preferences_move_out_of_the_user_at_start(
    tmp_path: Path, login_as: Callable[[User], dict[str, str]]
) -> None:
    olga = legacy_user(
        "olga",
        preferences=DAILY_QUIET,
        digest_due={"daily": DUE, "weekly": None},
        next_digest_at=DUE,
    )
    plain = legacy_user("ivan", preferences=None, digest_due=None, next_digest_at=None)
    async with started_on(tmp_path, [olga, plain]) as api:
        user = await User.get(olga["_id"])
        assert user is not None
        response = await api.get("/users/me/preferences", headers=login_as(user))
        assert response.status_code == 200
        assert response.json() == DAILY_QUIET_READ

        ivan = await User.get(plain["_id"])
        assert ivan is not None
        response = await api.get("/users/me/preferences", headers=login_as(ivan))
        assert response.json()["email"] == {
            "grades": "immediate",
            "announcements": "immediate",
            "homework": "daily",
            "attendance": "immediate",
        }

        # The digest due before the upgrade is still due after it.
        assert await digests.scan(now=DUE) == 1
        rows = [row async for row in User.get_motor_collection().find({})]
        assert all("preferences" not in row and "next_digest_at" not in row for row in rows)
        assert (await adopt_embedded_preferences()).moved == 0  # a second start finds nothing


async def test_settings_changed_after_a_half_done_move_are_kept(app: object) -> None:
    """A start that stopped after copying but before cleaning the user record: the copy, and
    any change made since, wins over the stale embedded one."""
    user_id = PydanticObjectId()
    await User.get_motor_collection().insert_one(
        {**legacy_user("olga", preferences=DAILY_QUIET), "_id": user_id}
    )
    changed = Preferences.model_validate({"email": {"grades": "off"}})
    await NotificationSettings(id=user_id, preferences=changed).insert()

    assert (await adopt_embedded_preferences()).moved == 1
    stored = await NotificationSettings.get(user_id)
    assert stored is not None and stored.preferences.email["grades"] == "off"
    row = await User.get_motor_collection().find_one({"_id": user_id})
    assert row is not None and "preferences" not in row


async def test_a_record_that_does_not_validate_is_kept_and_does_not_stop_the_start(
    tmp_path: Path, login_as: Callable[[User], dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    broken = legacy_user("broken", preferences={"email": {"grades": "off"}, "sms": True})
    good = legacy_user("olga", preferences=DAILY_QUIET)
    async with started_on(tmp_path, [broken, good]) as api:
        olga = await User.get(good["_id"])
        assert olga is not None
        response = await api.get("/users/me/preferences", headers=login_as(olga))
        assert response.json() == DAILY_QUIET_READ
        kept = await User.get_motor_collection().find_one({"_id": broken["_id"]})
        assert kept is not None and kept["preferences"] == {"email": {"grades": "off"}, "sms": True}
        assert str(broken["_id"]) in caplog.text
        # Not recorded as done: the next start tries the kept record again.
        assert await MigrationRecord.get("notification-settings-out-of-users") is None
        assert await MigrationRecord.get("grade-subject-keys") is not None
