"""A GET may answer from a user remembered for a few seconds; what ends or changes an account
still takes effect at the very next request, remembered or not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from mongomock_motor import AsyncMongoMockClient
from redis import asyncio as aioredis

from app.auth.models import Role, User
from app.auth.user_cache import channel_of
from app.main import create_app
from tests.auth.conftest import NEW_PASSWORD, bearer, login_pair
from tests.conftest import DEFAULT_PASSWORD, UserFactory, World, make_settings


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


# --- several API processes ---------------------------------------------------------------


@pytest.fixture
async def redis_app_client(tmp_path: Path, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API with Redis, as each of several production processes runs it."""
    settings = make_settings(tmp_path / "data", redis_url=redis_url)
    app = create_app(settings, mongo_client=AsyncMongoMockClient(tz_aware=True))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as http:
            yield http


async def test_a_user_deleted_through_another_process_is_refused_here_at_once(
    redis_app_client: httpx.AsyncClient, make_user: UserFactory, redis_url: str
) -> None:
    client = redis_app_client
    user = await make_user(Role.parent, email="parent@example.org")
    pair = await login_pair(client, "parent@example.org", DEFAULT_PASSWORD)
    await remembered(client, pair)
    # Another process deletes the account: its write, then what it tells the others.
    await User.get_motor_collection().update_one(
        {"_id": user.id}, {"$set": {"deleted_at": datetime.now(UTC)}}
    )
    assert (await client.get("/users/me", headers=bearer(pair))).status_code == 200  # remembered
    other_process = aioredis.from_url(redis_url)
    try:
        await other_process.publish(channel_of(other_process), f"user:{user.id}")
    finally:
        await other_process.aclose()

    status = 200
    for _ in range(50):  # the message crosses Redis in milliseconds
        status = (await client.get("/users/me", headers=bearer(pair))).status_code
        if status == 401:
            break
        await asyncio.sleep(0.02)
    assert status == 401


async def test_a_logout_here_is_told_to_the_other_processes(
    redis_app_client: httpx.AsyncClient, make_user: UserFactory, redis_url: str
) -> None:
    client = redis_app_client
    await make_user(Role.parent, email="parent@example.org")
    pair = await login_pair(client, "parent@example.org", DEFAULT_PASSWORD)
    listener = aioredis.from_url(redis_url)
    try:
        async with listener.pubsub() as pubsub:
            await pubsub.subscribe(channel_of(listener))
            await pubsub.get_message(timeout=1)  # the subscription's own confirmation
            logout = await client.post(
                "/auth/logout", json={"refresh_token": pair["refresh_token"]}
            )
            assert logout.status_code == 204
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
    finally:
        await listener.aclose()
    assert message is not None
    assert message["data"].decode().startswith("session:")
