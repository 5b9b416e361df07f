"""The bootstrap admin made at start, and create_admin behind `schoolbell create-admin`."""

from __future__ import annotations

from typing import Any

import pytest
from mongomock_motor import AsyncMongoMockClient

from app.auth import service
from app.auth.models import Role, User
from app.core.config import SettingsError, load_settings
from app.core.errors import Conflict, Unprocessable
from tests.auth.conftest import AppClient, bearer, login, login_pair

BOOTSTRAP = {
    "bootstrap_admin_email": "Root@Schoolbell.local",
    "bootstrap_admin_password": "bootstrap-password",
}


async def test_bootstrap_admin_is_created_at_start_and_can_log_in(
    app_client: AppClient,
) -> None:
    async with app_client(**BOOTSTRAP) as client:
        pair = await login_pair(client, "root@schoolbell.local", "bootstrap-password")
        me = await client.get("/users/me", headers=bearer(pair))

    assert me.status_code == 200
    assert me.json()["role"] == "admin"
    assert me.json()["email_verified"] is True


async def test_a_restart_keeps_the_existing_admin(app_client: AppClient) -> None:
    mongo: Any = AsyncMongoMockClient(tz_aware=True)
    async with app_client(mongo_client=mongo, **BOOTSTRAP) as client:
        first = await login_pair(client, "root@schoolbell.local", "bootstrap-password")
        changed = await client.patch(
            "/users/me",
            headers=bearer(first),
            json={"current_password": "bootstrap-password", "new_password": "changed-password"},
        )
        assert changed.status_code == 200

    # The second start must neither duplicate the admin nor put the old password back.
    async with app_client(mongo_client=mongo, **BOOTSTRAP) as client:
        old = await login(client, "root@schoolbell.local", "bootstrap-password")
        new = await login(client, "root@schoolbell.local", "changed-password")

    assert (old.status_code, new.status_code) == (401, 200)
    assert await User.find({"role": Role.admin.value}).count() == 1


async def test_no_admin_without_both_variables(app_client: AppClient) -> None:
    async with app_client(bootstrap_admin_email="root@example.org"):
        assert await User.find().count() == 0


def test_a_short_bootstrap_password_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOTSTRAP_ADMIN_EMAIL", "root@example.org")
    monkeypatch.setenv("BOOTSTRAP_ADMIN_PASSWORD", "short")
    with pytest.raises(SettingsError, match="BOOTSTRAP_ADMIN_PASSWORD must be at least 8"):
        load_settings(_env_file=None)


async def test_create_admin_refuses_a_taken_email_and_bad_input(app_client: AppClient) -> None:
    async with app_client():
        admin = await service.create_admin(email="Ops@Example.org", password="long-password")
        assert admin.email == "ops@example.org" and admin.role == Role.admin

        with pytest.raises(Conflict):
            await service.create_admin(email="OPS@example.org", password="long-password")
        with pytest.raises(Unprocessable):
            await service.create_admin(email="no-at-sign", password="long-password")
        with pytest.raises(Unprocessable):
            await service.create_admin(email="x@example.org", password="short")
