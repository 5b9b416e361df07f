"""The /auth routes over HTTP: registration, verification, login, refresh, logout."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.auth.models import AccountToken, AccountTokenPurpose, AuthSession, RefreshToken, User
from app.core.config import Settings
from app.core.security import hash_token, utcnow
from app.delivery.models import Email, EmailStatus
from tests.auth.conftest import (
    AppClient,
    bearer,
    login,
    login_pair,
    mailed_token,
    outbox,
    text_of,
)
from tests.conftest import DEFAULT_PASSWORD, UserFactory


def registration(**fields: Any) -> dict[str, Any]:
    return {
        "email": "Anna.Petrova@Example.org",
        "password": "long-enough-password",
        "full_name": "Anna Petrova",
        **fields,
    }


async def test_register_creates_unverified_parent_and_mails_a_link(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.post(
        "/auth/register", json=registration(locale="ru", timezone="Europe/Moscow")
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "anna.petrova@example.org"
    assert body["role"] == "parent"
    assert body["email_verified"] is False
    assert body["locale"] == "ru" and body["timezone"] == "Europe/Moscow"
    assert body["school_ids"] == []
    assert "password_hash" not in body and "preferences" not in body
    [mail] = outbox(settings)
    assert mail["To"] == "anna.petrova@example.org"
    assert "Подтвердите" in mail["Subject"]
    assert "http://testserver/verify-email?token=" in text_of(mail)
    html_part = mail.get_body(preferencelist=("html",))
    assert html_part is not None and "verify-email?token=" in html_part.get_content()


async def test_verify_email_end_to_end(client: httpx.AsyncClient, settings: Settings) -> None:
    await client.post("/auth/register", json=registration())
    token = mailed_token(settings, to="anna.petrova@example.org", path="verify-email")

    verified = await client.post("/auth/verify-email", json={"token": token})
    again = await client.post("/auth/verify-email", json={"token": token})

    assert verified.status_code == 204
    assert again.status_code == 400
    pair = await login_pair(client, "anna.petrova@example.org", "long-enough-password")
    me = await client.get("/users/me", headers=bearer(pair))
    assert me.json()["email_verified"] is True


async def test_verify_email_refuses_unknown_expired_and_reset_tokens(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user("parent")
    await user.set({"email_verified": False})
    assert user.id is not None
    await AccountToken(
        token_hash=hash_token("expired-token"),
        purpose=AccountTokenPurpose.verify_email,
        user_id=user.id,
        expires_at=utcnow() - timedelta(seconds=1),
    ).insert()
    await AccountToken(
        token_hash=hash_token("reset-token"),
        purpose=AccountTokenPurpose.password_reset,
        user_id=user.id,
        expires_at=utcnow() + timedelta(minutes=5),
    ).insert()

    for token in ("no-such-token", "expired-token", "reset-token"):
        response = await client.post("/auth/verify-email", json={"token": token})
        assert response.status_code == 400, token
    assert (await client.post("/auth/verify-email", json={})).status_code == 422
    assert (await client.post("/auth/verify-email", json={"token": ""})).status_code == 422
    refreshed = await User.get(user.id)
    assert refreshed is not None and refreshed.email_verified is False


async def test_register_duplicate_email_is_409_whatever_the_case(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post("/auth/register", json=registration())
    second = await client.post(
        "/auth/register", json=registration(email="ANNA.PETROVA@EXAMPLE.ORG")
    )

    assert first.status_code == 201
    assert second.status_code == 409


async def test_register_race_for_one_email_creates_one_account(
    client: httpx.AsyncClient,
) -> None:
    # Both requests pass the lookup while the other is still hashing; the index decides.
    responses = await asyncio.gather(
        client.post("/auth/register", json=registration()),
        client.post("/auth/register", json=registration(email="anna.petrova@EXAMPLE.org")),
    )

    assert sorted(r.status_code for r in responses) == [201, 409]
    assert await User.find({"email": "anna.petrova@example.org"}).count() == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"password": "short"},
        {"password": "x" * 257},
        {"timezone": "Mars/Olympus"},
        {"timezone": "localtime"},
        {"timezone": "../../etc/passwd"},
        {"locale": "de"},
        {"email": "not-an-email"},
        {"full_name": "   "},
        {"full_name": "x" * 201},
        {"role": "admin"},
    ],
)
async def test_register_refuses_bad_input(
    client: httpx.AsyncClient, fields: dict[str, Any]
) -> None:
    response = await client.post("/auth/register", json=registration(**fields))

    assert response.status_code == 422, response.text
    assert await User.find().count() == 0


async def test_register_succeeds_when_the_mail_server_is_down(app_client: AppClient) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    async with app_client(smtp_host="127.0.0.1", smtp_port=closed_port) as client:
        response = await client.post("/auth/register", json=registration())

        assert response.status_code == 201
        # The email waits in the outbox for a retry instead of failing the request.
        (email,) = await Email.find().to_list()
        assert email.to == registration()["email"].lower()
        assert email.status == EmailStatus.failed
        assert email.attempts == 1
        assert email.last_error and "connection" in email.last_error


async def test_login_returns_a_working_token_pair(
    client: httpx.AsyncClient, make_user: UserFactory, settings: Settings
) -> None:
    user = await make_user("teacher", email="teacher@example.org")

    # The email is matched whatever its case.
    pair = await login_pair(client, "Teacher@Example.org", DEFAULT_PASSWORD)

    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == settings.access_token_minutes * 60
    assert pair["refresh_token"]
    me = await client.get("/users/me", headers=bearer(pair))
    assert me.status_code == 200
    assert me.json()["id"] == str(user.id)


async def test_login_refuses_wrong_password_unknown_email_and_deleted_user(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    await make_user("parent", email="parent@example.org")
    await make_user("parent", email="gone@example.org", deleted_at=utcnow())

    attempts = [
        ("parent@example.org", "wrong-password"),
        ("nobody@example.org", DEFAULT_PASSWORD),
        ("gone@example.org", DEFAULT_PASSWORD),
    ]
    for email, password in attempts:
        response = await login(client, email, password)
        assert response.status_code == 401, email
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert (await client.post("/auth/login", data={"username": "x"})).status_code == 422


async def test_login_is_limited_per_account(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    await make_user("parent", email="target@example.org")
    await make_user("parent", email="neighbour@example.org")

    statuses = [
        (await login(client, "target@example.org", f"guess-{n}")).status_code for n in range(10)
    ]
    blocked = await login(client, "TARGET@example.org", DEFAULT_PASSWORD)

    assert statuses == [401] * 10
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    # Another family behind the same address is not locked out by it.
    assert (await login(client, "neighbour@example.org", DEFAULT_PASSWORD)).status_code == 200


async def test_login_is_limited_per_client_address(
    app_client: AppClient, make_user: UserFactory
) -> None:
    async with app_client(login_rate_per_client="3/minute") as client:
        statuses = [
            (await login(client, f"user{n}@example.org", "whatever-password")).status_code
            for n in range(4)
        ]

    assert statuses == [401, 401, 401, 429]


async def test_refresh_rotates_and_reuse_revokes_the_session(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    await make_user("student", email="student@example.org")
    first = await login_pair(client, "student@example.org", DEFAULT_PASSWORD)

    rotated = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get("/users/me", headers=bearer(second))).status_code == 200

    # The old token shows up again: someone copied it, so the session ends for both holders.
    reused = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    after = await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})

    assert reused.status_code == 401
    assert after.status_code == 401
    session = await AuthSession.find_one()
    assert session is not None and session.revoked_at is not None


async def test_refresh_reuse_leaves_other_sessions_alone(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    await make_user("student", email="student@example.org")
    phone = await login_pair(client, "student@example.org", DEFAULT_PASSWORD)
    laptop = await login_pair(client, "student@example.org", DEFAULT_PASSWORD)

    await client.post("/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    await client.post("/auth/refresh", json={"refresh_token": phone["refresh_token"]})

    kept = await client.post("/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
    assert kept.status_code == 200


async def test_concurrent_refreshes_with_one_token_yield_one_pair(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    await make_user("student", email="student@example.org")
    pair = await login_pair(client, "student@example.org", DEFAULT_PASSWORD)

    responses = await asyncio.gather(
        *(
            client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
            for _ in range(5)
        )
    )

    assert sorted(r.status_code for r in responses) == [200, 401, 401, 401, 401]
    assert await RefreshToken.find({"spent_at": None}).count() <= 1


async def test_refresh_refuses_unknown_expired_and_malformed_tokens(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user("parent")
    assert user.id is not None
    session = AuthSession(user_id=user.id)
    await session.insert()
    assert session.id is not None
    await RefreshToken(
        token_hash=hash_token("old-token"),
        session_id=session.id,
        user_id=user.id,
        expires_at=utcnow() - timedelta(seconds=1),
    ).insert()

    for token in ("unknown-token", "old-token"):
        response = await client.post("/auth/refresh", json={"refresh_token": token})
        assert response.status_code == 401, token
    # Expiry is not reuse: the session stays open.
    assert (await AuthSession.get(session.id)).revoked_at is None  # type: ignore[union-attr]
    assert (await client.post("/auth/refresh", json={})).status_code == 422
    long = {"refresh_token": "x" * 1000}
    assert (await client.post("/auth/refresh", json=long)).status_code == 422


async def test_refresh_refuses_a_deleted_user(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user("parent", email="parent@example.org")
    pair = await login_pair(client, "parent@example.org", DEFAULT_PASSWORD)
    await user.set({"deleted_at": utcnow()})

    response = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})

    assert response.status_code == 401


async def test_logout_ends_only_that_session(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    await make_user("parent", email="parent@example.org")
    phone = await login_pair(client, "parent@example.org", DEFAULT_PASSWORD)
    laptop = await login_pair(client, "parent@example.org", DEFAULT_PASSWORD)

    response = await client.post("/auth/logout", json={"refresh_token": phone["refresh_token"]})

    assert response.status_code == 204
    dead = await client.post("/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    alive = await client.post("/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
    assert dead.status_code == 401
    assert alive.status_code == 200
    # Logging out twice, or with a token nobody issued, changes nothing and is no error.
    again = await client.post("/auth/logout", json={"refresh_token": phone["refresh_token"]})
    assert again.status_code == 204
    unknown = await client.post("/auth/logout", json={"refresh_token": "unknown"})
    assert unknown.status_code == 204
    assert (await client.post("/auth/logout", json={"token": "x"})).status_code == 422
