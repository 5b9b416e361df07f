"""GET, PATCH /users/me and its password over HTTP: one's own profile."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.auth.models import Role, User
from app.core.config import Settings
from tests.auth.conftest import NEW_PASSWORD, bearer, login, login_pair
from tests.conftest import DEFAULT_PASSWORD, UserFactory, World

LoginAs = Callable[[User], dict[str, str]]


async def test_me_shows_the_callers_profile(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    response = await client.get("/users/me", headers=login_as(world.student))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(world.student.id)
    assert body["school_ids"] == [str(world.school.id)]
    assert set(body) == {
        "id",
        "email",
        "full_name",
        "role",
        "school_ids",
        "locale",
        "timezone",
        "email_verified",
        "pending_email",
        "created_at",
    }
    assert body["pending_email"] is None


async def test_me_needs_a_valid_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/users/me")).status_code == 401
    garbage = {"Authorization": "Bearer not-a-jwt"}
    assert (await client.get("/users/me", headers=garbage)).status_code == 401
    assert (await client.patch("/users/me", json={"full_name": "X"})).status_code == 401


async def test_me_patch_changes_name_locale_and_timezone(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    changes = {"full_name": "  Maria Ivanova ", "locale": "ru", "timezone": "Asia/Yekaterinburg"}

    response = await client.patch("/users/me", headers=login_as(world.parent), json=changes)

    assert response.status_code == 200
    body = response.json()
    assert (body["full_name"], body["locale"], body["timezone"]) == (
        "Maria Ivanova",
        "ru",
        "Asia/Yekaterinburg",
    )
    again = await client.get("/users/me", headers=login_as(world.parent))
    assert again.json()["timezone"] == "Asia/Yekaterinburg"


@pytest.mark.parametrize(
    "changes",
    [
        {"timezone": "Moscow"},
        {"locale": "fr"},
        {"full_name": ""},
        {"role": "admin"},
        {"email": "other@example.org"},
        {"school_ids": []},
        {"new_password": "short", "current_password": DEFAULT_PASSWORD},
        {"new_password": NEW_PASSWORD},
        {"current_password": DEFAULT_PASSWORD},
    ],
)
async def test_me_patch_refuses_bad_input(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, changes: dict[str, Any]
) -> None:
    response = await client.patch("/users/me", headers=login_as(world.parent), json=changes)

    assert response.status_code == 422, response.text
    stored = await User.get(world.parent.id)
    assert stored is not None and stored.role == Role.parent


async def test_me_password_change_needs_the_current_password(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    await make_user(Role.parent, email="parent@example.org")
    pair = await login_pair(client, "parent@example.org", DEFAULT_PASSWORD)

    wrong = await client.patch(
        "/users/me",
        headers=bearer(pair),
        json={"current_password": "not-my-password", "new_password": NEW_PASSWORD},
    )
    assert wrong.status_code == 403
    assert (await login(client, "parent@example.org", NEW_PASSWORD)).status_code == 401

    changed = await client.patch(
        "/users/me",
        headers=bearer(pair),
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 200

    # Changing the password signs out every device, this one included.
    assert (await client.get("/users/me", headers=bearer(pair))).status_code == 401
    stale = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert stale.status_code == 401
    assert (await login(client, "parent@example.org", DEFAULT_PASSWORD)).status_code == 401
    assert (await login(client, "parent@example.org", NEW_PASSWORD)).status_code == 200


async def test_me_password_guessing_is_rate_limited(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, settings: Settings
) -> None:
    limit = int(settings.login_rate_per_account.split("/")[0])
    guess = {"current_password": "guess-guess", "new_password": NEW_PASSWORD}
    for _ in range(limit):
        response = await client.patch("/users/me", headers=login_as(world.parent), json=guess)
        assert response.status_code == 403

    blocked = await client.patch("/users/me", headers=login_as(world.parent), json=guess)

    assert blocked.status_code == 429
    assert "Retry-After" in blocked.headers
