"""The join page keeps the API's rate limits: it is no way around them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from app.auth.models import User
from app.core.config import Settings
from app.schools import pages
from tests.conftest import DEFAULT_PASSWORD, World, make_settings
from tests.pages import visible_text

LoginAs = Callable[[User], dict[str, str]]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path / "data", register_rate_per_client="1/hour", login_rate_per_account="2/minute"
    )


async def a_code(client: httpx.AsyncClient, world: World, login_as: LoginAs) -> str:
    issued = await client.post(
        f"/students/{world.student.id}/guardian-codes", headers=login_as(world.admin)
    )
    assert issued.status_code == 201
    code: str = issued.json()["code"]
    return code


def newcomer(code: str, email: str) -> dict[str, str]:
    return {
        "code": code,
        "new_email": email,
        "new_full_name": "New Parent",
        "new_password": "new-parent-password",
        "new_password_again": "new-parent-password",
        "new_locale": "en",
    }


async def test_registering_from_one_address_is_limited_as_the_api_is(
    client: httpx.AsyncClient, site: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    first = await site.post(
        "/join/new", data=newcomer(await a_code(client, world, login_as), "a@x.org")
    )
    assert first.status_code == 202

    second = await site.post(
        "/join/new", data=newcomer(await a_code(client, world, login_as), "b@x.org")
    )
    assert second.status_code == 429
    assert "Too many requests" in visible_text(second.text)
    assert await User.find_one({"email": "b@x.org"}) is None
    # The API's own registration shares the count.
    api = await client.post(
        "/auth/register",
        json={"email": "c@x.org", "password": "long-enough-1", "full_name": "C"},
    )
    assert api.status_code == 429


async def test_failed_sign_ins_stop_further_tries_for_that_account(
    client: httpx.AsyncClient, site: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    code = await a_code(client, world, login_as)
    form = {"code": code, "existing_email": world.parent.email}
    for _ in range(2):
        wrong = await site.post("/join/existing", data={**form, "existing_password": "wrong"})
        assert wrong.status_code == 401

    right = await site.post("/join/existing", data={**form, "existing_password": DEFAULT_PASSWORD})

    assert right.status_code == 429 and "Too many requests" in visible_text(right.text)


async def test_looking_codes_up_is_limited_per_client(
    site: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "JOIN_LOOKUP_RATE", "2/minute")
    for _ in range(2):
        assert (await site.get("/join", params={"code": "ZZZZ2222"})).status_code == 400
    refused = await site.get("/join", params={"code": "ZZZZ2222"})
    assert refused.status_code == 429 and "Too many attempts" in visible_text(refused.text)
