"""The password reset routes over HTTP: the mailed link, its expiry and limits, and the
sessions a completed reset ends."""

from __future__ import annotations

from datetime import timedelta

import httpx

from app.auth.models import AccountToken, AccountTokenPurpose
from app.core.config import Settings
from app.core.security import hash_token, utcnow
from tests.auth.conftest import (
    NEW_PASSWORD,
    AppClient,
    bearer,
    login,
    login_pair,
    mailed_token,
    outbox,
)
from tests.conftest import DEFAULT_PASSWORD, UserFactory


async def test_password_reset_end_to_end_ends_every_session(
    client: httpx.AsyncClient, make_user: UserFactory, settings: Settings
) -> None:
    user = await make_user("parent", email="parent@example.org")
    await user.set({"email_verified": False})
    old = await login_pair(client, "parent@example.org", DEFAULT_PASSWORD)

    requested = await client.post(
        "/auth/password-reset/request", json={"email": "Parent@Example.org"}
    )
    assert requested.status_code == 202
    token = mailed_token(settings, to="parent@example.org", path="reset-password")

    confirmed = await client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert confirmed.status_code == 204

    assert (await client.get("/users/me", headers=bearer(old))).status_code == 401
    stale = await client.post("/auth/refresh", json={"refresh_token": old["refresh_token"]})
    assert stale.status_code == 401
    assert (await login(client, "parent@example.org", DEFAULT_PASSWORD)).status_code == 401
    fresh = await login_pair(client, "parent@example.org", NEW_PASSWORD)
    me = await client.get("/users/me", headers=bearer(fresh))
    assert me.status_code == 200
    assert me.json()["email_verified"] is True
    reused = await client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": "another-one-1"}
    )
    assert reused.status_code == 400


async def test_a_completed_reset_voids_the_other_reset_links(
    client: httpx.AsyncClient, make_user: UserFactory, settings: Settings
) -> None:
    await make_user("parent", email="parent@example.org")
    await client.post("/auth/password-reset/request", json={"email": "parent@example.org"})
    first = mailed_token(settings, to="parent@example.org", path="reset-password")
    await client.post("/auth/password-reset/request", json={"email": "parent@example.org"})
    second = mailed_token(settings, to="parent@example.org", path="reset-password")
    assert first != second

    used = await client.post(
        "/auth/password-reset/confirm", json={"token": second, "new_password": NEW_PASSWORD}
    )
    older = await client.post(
        "/auth/password-reset/confirm", json={"token": first, "new_password": "attacker-pass"}
    )

    assert used.status_code == 204
    assert older.status_code == 400


async def test_password_reset_request_is_202_and_silent_for_unknown_or_deleted(
    client: httpx.AsyncClient, make_user: UserFactory, settings: Settings
) -> None:
    await make_user("parent", email="gone@example.org", deleted_at=utcnow())

    for email in ("nobody@example.org", "gone@example.org", "not even an email"):
        response = await client.post("/auth/password-reset/request", json={"email": email})
        assert response.status_code == 202, email
    assert outbox(settings) == []
    assert await AccountToken.find().count() == 0
    assert (await client.post("/auth/password-reset/request", json={})).status_code == 422


async def test_password_reset_request_is_rate_limited_per_email(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    limit = int(settings.password_reset_rate.split("/")[0])
    for _ in range(limit):
        response = await client.post(
            "/auth/password-reset/request", json={"email": "someone@example.org"}
        )
        assert response.status_code == 202

    blocked = await client.post(
        "/auth/password-reset/request", json={"email": "SOMEONE@example.org"}
    )

    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1


async def test_password_reset_request_is_rate_limited_per_client(
    app_client: AppClient,
) -> None:
    async with app_client(password_reset_rate_per_client="2/hour") as client:
        statuses = [
            (
                await client.post(
                    "/auth/password-reset/request", json={"email": f"u{n}@example.org"}
                )
            ).status_code
            for n in range(3)
        ]

    assert statuses == [202, 202, 429]


async def test_password_reset_confirm_refuses_bad_input(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user("parent", email="parent@example.org")
    assert user.id is not None
    await AccountToken(
        token_hash=hash_token("expired-reset"),
        purpose=AccountTokenPurpose.password_reset,
        user_id=user.id,
        expires_at=utcnow() - timedelta(seconds=1),
    ).insert()
    await AccountToken(
        token_hash=hash_token("verify-token"),
        purpose=AccountTokenPurpose.verify_email,
        user_id=user.id,
        expires_at=utcnow() + timedelta(hours=1),
    ).insert()

    for token in ("unknown", "expired-reset", "verify-token"):
        response = await client.post(
            "/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
        )
        assert response.status_code == 400, token
    short = await client.post(
        "/auth/password-reset/confirm", json={"token": "unknown", "new_password": "short"}
    )
    assert short.status_code == 422
    assert (await login(client, "parent@example.org", DEFAULT_PASSWORD)).status_code == 200


async def test_password_reset_token_expires_after_30_minutes(
    client: httpx.AsyncClient, make_user: UserFactory, settings: Settings
) -> None:
    await make_user("parent", email="parent@example.org")
    await client.post("/auth/password-reset/request", json={"email": "parent@example.org"})
    token = mailed_token(settings, to="parent@example.org", path="reset-password")

    stored = await AccountToken.find_one({"token_hash": hash_token(token)})

    assert stored is not None
    lifetime = stored.expires_at - stored.created_at
    assert timedelta(minutes=29) < lifetime <= timedelta(minutes=30)
