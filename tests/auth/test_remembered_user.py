"""A GET may answer from a user remembered for a few seconds; what ends or changes an account
still takes effect at the very next request, remembered or not."""

from __future__ import annotations

import httpx

from app.auth.models import Role
from tests.auth.conftest import NEW_PASSWORD, bearer, login_pair
from tests.conftest import DEFAULT_PASSWORD, UserFactory, World


async def remembered(client: httpx.AsyncClient, pair: dict[str, str]) -> None:
    """Two reads, so the second is answered from the remembered user."""
    for _ in range(2):
        assert (await client.get("/users/me", headers=bearer(pair))).status_code == 200


async def test_a_logged_out_session_is_refused_at_once_and_the_other_keeps_working(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    await make_user(Role.parent, email="parent@example.org")
    phone = await login_pair(client, "parent@example.org", DEFAULT_PASSWORD)
    laptop = await login_pair(client, "parent@example.org", DEFAULT_PASSWORD)
    await remembered(client, phone)
    await remembered(client, laptop)

    logout = await client.post("/auth/logout", json={"refresh_token": phone["refresh_token"]})

    assert logout.status_code == 204
    refused = await client.get("/users/me", headers=bearer(phone))
    assert refused.status_code == 401
    assert (await client.get("/users/me", headers=bearer(laptop))).status_code == 200


async def test_a_password_change_refuses_every_older_token_at_once(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    await make_user(Role.parent, email="parent@example.org")
    phone = await login_pair(client, "parent@example.org", DEFAULT_PASSWORD)
    laptop = await login_pair(client, "parent@example.org", DEFAULT_PASSWORD)
    await remembered(client, phone)
    await remembered(client, laptop)

    changed = await client.patch(
        "/users/me",
        headers=bearer(laptop),
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
    )

    assert changed.status_code == 200
    for pair in (phone, laptop):
        assert (await client.get("/users/me", headers=bearer(pair))).status_code == 401
    fresh = await login_pair(client, "parent@example.org", NEW_PASSWORD)
    assert (await client.get("/users/me", headers=bearer(fresh))).status_code == 200


async def test_a_deleted_user_is_refused_at_once(client: httpx.AsyncClient, world: World) -> None:
    teacher = await login_pair(client, world.teacher.email, DEFAULT_PASSWORD)
    admin = await login_pair(client, world.admin.email, DEFAULT_PASSWORD)
    await remembered(client, teacher)

    deleted = await client.delete(f"/users/{world.teacher.id}", headers=bearer(admin))

    assert deleted.status_code == 204
    assert (await client.get("/users/me", headers=bearer(teacher))).status_code == 401
    inbox = await client.get("/notifications", headers=bearer(teacher))
    assert inbox.status_code == 401


async def test_a_role_change_takes_effect_at_the_next_read(
    client: httpx.AsyncClient, world: World
) -> None:
    teacher = await login_pair(client, world.teacher.email, DEFAULT_PASSWORD)
    admin = await login_pair(client, world.admin.email, DEFAULT_PASSWORD)
    assert (await client.get("/schools", headers=bearer(teacher))).status_code == 403
    await remembered(client, teacher)

    promoted = await client.patch(
        f"/users/{world.teacher.id}", headers=bearer(admin), json={"role": "admin"}
    )

    assert promoted.status_code == 200
    schools = await client.get("/schools", headers=bearer(teacher))
    assert schools.status_code == 200
    me = await client.get("/users/me", headers=bearer(teacher))
    assert me.json()["role"] == "admin"

    demoted = await client.patch(
        f"/users/{world.teacher.id}", headers=bearer(admin), json={"role": "teacher"}
    )
    assert demoted.status_code == 200
    assert (await client.get("/schools", headers=bearer(teacher))).status_code == 403


async def test_changed_preferences_are_read_back_at_once(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    await make_user(Role.parent, email="parent@example.org")
    pair = await login_pair(client, "parent@example.org", DEFAULT_PASSWORD)
    before = await client.get("/users/me/preferences", headers=bearer(pair))
    assert before.json()["email"]["grades"] == "immediate"

    changed = await client.patch(
        "/users/me/preferences", headers=bearer(pair), json={"email": {"grades": "daily"}}
    )

    assert changed.status_code == 200
    after = await client.get("/users/me/preferences", headers=bearer(pair))
    assert after.json()["email"]["grades"] == "daily"
