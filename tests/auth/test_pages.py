"""The pages account mail links to: confirming an email and choosing a new password."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from app.auth.models import User
from app.core.config import Settings
from app.core.security import utcnow
from app.notifications.links import preferences_token
from tests.auth.conftest import NEW_PASSWORD, login, mailed_token, outbox
from tests.conftest import DEFAULT_PASSWORD, World
from tests.pages import english_words

Login = Callable[[User], dict[str, str]]


def hidden_token(page: str) -> str:
    found = re.search(r'<input type="hidden" name="token" value="([^"]+)">', page)
    assert found, page
    return found.group(1)


def error_after(page: str, field: str) -> str:
    """The error shown in the field's own block, under it, or '' when there is none."""
    block = re.search(rf'<div class="field[^"]*">\s*<label for="{field}">.*?</div>', page, re.S)
    assert block, f"no field {field}"
    if f'aria-describedby="{field}-error"' not in block.group(0):
        return ""
    found = re.search(rf'<p class="error" id="{field}-error">([^<]+)</p>\s*</div>$', block.group(0))
    return found.group(1) if found else ""


async def register(client: httpx.AsyncClient, email: str, locale: str = "en") -> None:
    response = await client.post(
        "/auth/register",
        json={"email": email, "password": DEFAULT_PASSWORD, "full_name": "Ann", "locale": locale},
    )
    assert response.status_code == 201, response.text


async def test_opening_the_link_only_asks_and_the_button_confirms(
    client: httpx.AsyncClient, site: httpx.AsyncClient, settings: Settings
) -> None:
    await register(client, "ann@example.org")
    token = mailed_token(settings, to="ann@example.org", path="verify-email")

    page = await site.get("/verify-email", params={"token": token})
    assert page.status_code == 200
    assert "Confirm my email" in page.text and hidden_token(page.text) == token
    user = await User.find_one({"email": "ann@example.org"})
    assert user is not None and not user.email_verified

    done = await site.post("/verify-email", data={"token": token})
    assert done.status_code == 200
    assert "Email confirmed" in done.text
    await user.sync()
    assert user.email_verified

    again = await site.post("/verify-email", data={"token": token})
    assert again.status_code == 400
    assert "This link no longer works" in again.text and 'name="email"' in again.text


async def test_a_russian_reader_gets_the_page_in_russian(
    client: httpx.AsyncClient, site: httpx.AsyncClient, settings: Settings
) -> None:
    await register(client, "olga@example.org", locale="ru")
    token = mailed_token(settings, to="olga@example.org", path="verify-email")

    page = await site.get(
        "/verify-email", params={"token": token}, headers={"Accept-Language": "en"}
    )

    assert '<html lang="ru">' in page.text and "Подтвердить адрес" in page.text
    assert english_words(page.text) == []


@pytest.mark.parametrize(
    ("params", "headers", "expected"),
    [
        ({"token": "unknown"}, {}, "This link no longer works"),
        ({"token": "unknown", "lang": "ru"}, {}, "Эта ссылка больше не работает"),
        ({}, {"Accept-Language": "ru-RU,ru;q=0.9"}, "Эта ссылка больше не работает"),
    ],
)
async def test_an_unknown_link_says_so_in_the_asked_language(
    site: httpx.AsyncClient, params: dict[str, str], headers: dict[str, str], expected: str
) -> None:
    for path in ("/verify-email", "/reset-password"):
        page = await site.get(path, params=params, headers=headers)
        assert page.status_code == 400
        assert expected in page.text and 'name="email"' in page.text


async def test_a_new_verification_link_is_answered_alike_for_any_address(
    client: httpx.AsyncClient, site: httpx.AsyncClient, settings: Settings
) -> None:
    await register(client, "ann@example.org")
    first = mailed_token(settings, to="ann@example.org", path="verify-email")

    known = await site.post("/verify-email/new-link", data={"email": "Ann@Example.org"})
    unknown = await site.post("/verify-email/new-link", data={"email": "nobody@example.org"})

    assert known.status_code == unknown.status_code == 202
    assert known.text == unknown.text
    second = mailed_token(settings, to="ann@example.org", path="verify-email")
    assert second != first
    assert all(m["To"] != "nobody@example.org" for m in outbox(settings))

    empty = await site.post("/verify-email/new-link?lang=ru", data={"email": " "})
    assert empty.status_code == 400
    assert error_after(empty.text, "email").startswith("Введите адрес")


async def test_reset_form_errors_keep_the_link_good_and_the_new_password_ends_sessions(
    client: httpx.AsyncClient, site: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    email = world.parent.email
    before = await login(client, email, DEFAULT_PASSWORD)
    old_refresh = before.json()["refresh_token"]
    assert (
        await client.post("/auth/password-reset/request", json={"email": email})
    ).status_code == 202
    token = mailed_token(settings, to=email, path="reset-password")

    form = await site.get("/reset-password", params={"token": token})
    assert form.status_code == 200 and 'type="password"' in form.text

    short = await site.post(
        "/reset-password",
        data={"token": token, "new_password": "short", "new_password_again": "short"},
    )
    assert short.status_code == 422
    assert "at least 8 characters" in error_after(short.text, "new_password")

    mismatch = await site.post(
        "/reset-password",
        data={
            "token": token,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD + "x",
        },
    )
    assert mismatch.status_code == 422
    assert error_after(mismatch.text, "new_password_again") == "The two passwords do not match."
    assert hidden_token(mismatch.text) == token
    assert (await login(client, email, DEFAULT_PASSWORD)).status_code == 200

    done = await site.post(
        "/reset-password",
        data={"token": token, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD},
    )
    assert done.status_code == 200 and "Sign in with your new password" in done.text
    assert (await login(client, email, NEW_PASSWORD)).status_code == 200
    assert (await login(client, email, DEFAULT_PASSWORD)).status_code == 401
    dead = await client.post("/auth/refresh", json={"refresh_token": old_refresh})
    assert dead.status_code == 401

    used = await site.get("/reset-password", params={"token": token})
    assert used.status_code == 400 and "already been used" in used.text


async def test_a_token_for_another_purpose_opens_nothing(
    client: httpx.AsyncClient, site: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    assert world.parent.id is not None
    preferences = preferences_token(settings=settings, user_id=world.parent.id)
    await client.post("/auth/password-reset/request", json={"email": world.parent.email})
    reset = mailed_token(settings, to=world.parent.email, path="reset-password")

    for path, token in [
        ("/verify-email", reset),
        ("/verify-email", preferences),
        ("/reset-password", preferences),
    ]:
        assert (await site.get(path, params={"token": token})).status_code == 400
        assert (
            await site.post(
                path,
                data={
                    "token": token,
                    "new_password": NEW_PASSWORD,
                    "new_password_again": NEW_PASSWORD,
                },
            )
        ).status_code == 400
    # Nor is a page token a login.
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {preferences}"})
    assert me.status_code == 401
    assert (
        await client.post(
            "/auth/password-reset/confirm",
            json={"token": preferences, "new_password": NEW_PASSWORD},
        )
    ).status_code == 400
    assert (await login(client, world.parent.email, DEFAULT_PASSWORD)).status_code == 200


async def test_verification_links_last_seven_days(
    client: httpx.AsyncClient, site: httpx.AsyncClient, settings: Settings
) -> None:
    from app.auth.models import AccountToken

    await register(client, "ann@example.org")
    token = mailed_token(settings, to="ann@example.org", path="verify-email")
    [stored] = await AccountToken.find_all().to_list()
    lifetime = stored.expires_at.replace(tzinfo=None) - utcnow().replace(tzinfo=None)
    assert timedelta(days=6, hours=23) < lifetime <= timedelta(days=7)

    await AccountToken.get_motor_collection().update_one(
        {"_id": stored.id}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}}
    )
    assert (await site.get("/verify-email", params={"token": token})).status_code == 400


async def test_pages_load_nothing_from_elsewhere_and_leak_no_token(site: httpx.AsyncClient) -> None:
    page = await site.get("/reset-password", params={"token": "x"})
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)
    assert "<script" not in page.text
