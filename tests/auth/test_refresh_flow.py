"""The refresh flow as /openapi.json's security scheme tells client teams it works: what the
other auth tests do not already show."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from jose import jwt

from app.auth.models import AuthSession
from app.core.config import Settings
from app.core.security import create_access_token
from tests.auth.conftest import bearer, login_pair
from tests.conftest import DEFAULT_PASSWORD, UserFactory


def test_the_security_scheme_describes_the_refresh_flow(app: FastAPI) -> None:
    scheme = app.openapi()["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    described = scheme["description"]
    for promise in ("15 minutes", "/api/v1/auth/refresh", "spent", "401", "logout"):
        assert promise in described


async def test_an_access_token_lasts_fifteen_minutes_then_is_refused(
    client: httpx.AsyncClient, make_user: UserFactory, settings: Settings
) -> None:
    await make_user("parent", email="parent@example.org")
    pair = await login_pair(client, "parent@example.org", DEFAULT_PASSWORD)

    claims = jwt.get_unverified_claims(pair["access_token"])
    assert pair["expires_in"] == 15 * 60
    assert abs(claims["exp"] - claims["iat"] - 15 * 60) < 1
    # The same session's token, a minute past its time.
    spent, _ = create_access_token(
        user_id=claims["sub"], secret=settings.secret, minutes=-1, session_id=claims["sid"]
    )
    assert (await client.get("/users/me", headers=bearer(pair))).status_code == 200
    late = await client.get("/users/me", headers={"Authorization": f"Bearer {spent}"})
    assert late.status_code == 401


async def test_a_spent_refresh_token_presented_again_ends_the_pair_handed_out_for_it(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    await make_user("parent", email="parent@example.org")
    first = await login_pair(client, "parent@example.org", DEFAULT_PASSWORD)
    second = (
        await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    assert (await client.get("/users/me", headers=bearer(second))).status_code == 200

    copy = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})

    assert copy.status_code == 401
    # The access token of the new pair, not only its refresh token, is refused at once.
    assert (await client.get("/users/me", headers=bearer(second))).status_code == 401


async def test_two_refreshes_at_once_with_one_token_end_the_session(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    await make_user("parent", email="parent@example.org")
    pair = await login_pair(client, "parent@example.org", DEFAULT_PASSWORD)

    answers = await asyncio.gather(
        *(client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}) for _ in "ab")
    )

    assert sorted(answer.status_code for answer in answers) == [200, 401]
    (winner,) = [answer.json() for answer in answers if answer.status_code == 200]
    after = await client.post("/auth/refresh", json={"refresh_token": winner["refresh_token"]})
    assert after.status_code == 401
    assert (await client.get("/users/me", headers=bearer(winner))).status_code == 401
    session = await AuthSession.find_one()
    assert session is not None and session.revoked_at is not None
