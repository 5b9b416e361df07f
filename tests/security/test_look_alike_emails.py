"""Look-alike addresses are one address (issue 18, finding 11)."""

from __future__ import annotations

import httpx
import pytest

from app.auth.models import User
from app.core.config import Settings
from tests.auth.conftest import (
    login,
    mailed_token,
)
from tests.conftest import DEFAULT_PASSWORD, UserFactory

# --- 11. look-alike addresses are one address --------------------------------------------


@pytest.mark.parametrize(
    "look_alike",
    ["ａｄｍｉｎ@demo.example.org", "ADMİN@demo.example.org", "admın@demo.example.org"],
)
async def test_look_alike_emails_cannot_register_a_second_account(
    client: httpx.AsyncClient, make_user: UserFactory, look_alike: str
) -> None:
    await make_user("admin", email="admin@demo.example.org")

    answer = await client.post(
        "/auth/register",
        json={"email": look_alike, "password": "long-enough-password", "full_name": "Anna"},
    )

    assert answer.status_code in (409, 422), answer.text
    assert await User.find({"role": "parent"}).count() == 0


async def test_a_compatibility_form_of_the_address_signs_in_and_resets(
    client: httpx.AsyncClient, make_user: UserFactory, settings: Settings
) -> None:
    parent = await make_user("parent", email="masha.mom@example.org")

    signed_in = await login(client, "ＭＡＳＨＡ.ＭＯＭ@example.org", DEFAULT_PASSWORD)
    await client.post("/auth/password-reset/request", json={"email": "Ｍasha.mom@example.org"})

    assert signed_in.status_code == 200
    assert mailed_token(settings, to=parent.email, path="reset-password")
