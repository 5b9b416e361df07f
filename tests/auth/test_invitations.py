"""Invitations: an account an admin makes without a password is mailed a link to choose
one; the page sets it once and verifies the address; a fresh invitation ends the old link."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from app.auth.models import Locale, Role, User
from app.core.config import Settings
from app.schools.models import School
from tests.auth.conftest import login, text_of
from tests.auth.test_pages import error_after, hidden_token
from tests.conftest import SmtpServer, UserFactory, World, make_settings
from tests.pages import english_words

Login = Callable[[User], dict[str, str]]
PASSWORD = "my-first-password"


@pytest.fixture
def settings(tmp_path: Path, smtp_server: SmtpServer) -> Settings:
    # Mail goes to a real SMTP server (aiosmtpd), as it would in production.
    return make_settings(tmp_path / "data", smtp_host="127.0.0.1", smtp_port=smtp_server.port)


def invitations_to(smtp: SmtpServer, address: str) -> list[str]:
    return [
        text_of(m)
        for e, m in zip(smtp.envelopes, smtp.messages, strict=True)
        if address in e.rcpt_tos
    ]


def invite_link(text: str) -> str:
    found = re.search(r"http://testserver(/set-password\?token=[\w\-]+&lang=\w+)", text)
    assert found, text
    return found.group(1)


async def create_teacher(
    client: httpx.AsyncClient, world: World, login_as: Login, *, locale: str = "en"
) -> httpx.Response:
    return await client.post(
        "/users",
        json={
            "email": "new.teacher@example.org",
            "full_name": "Vera Lebedeva",
            "role": "teacher",
            "school_id": str(world.school.id),
            "locale": locale,
        },
        headers=login_as(world.admin),
    )


async def test_a_russian_teacher_is_invited_and_sets_a_password_from_the_link(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    world: World,
    login_as: Login,
    smtp_server: SmtpServer,
) -> None:
    response = await create_teacher(client, world, login_as, locale="ru")
    assert response.status_code == 201, response.text
    assert response.json()["email_verified"] is False

    [message] = [
        m
        for e, m in zip(smtp_server.envelopes, smtp_server.messages, strict=True)
        if "new.teacher@example.org" in e.rcpt_tos
    ]
    assert message["Subject"] == "Приглашение в Schoolbell от школы «School 1»"
    text = text_of(message)
    assert "Ваша роль: учитель." in text and "14 дней" in text
    assert "не регистрировались" not in text  # not the "ignore this" verification mail
    assert "Vera" not in text  # nobody has proven this mailbox yet
    # No sign-in works before a password is chosen.
    assert (await login(client, "new.teacher@example.org", "")).status_code in (401, 422)

    link = invite_link(text)
    page = await site.get(link)
    assert page.status_code == 200
    assert '<html lang="ru">' in page.text and "new.teacher@example.org" in page.text
    assert english_words(page.text) == []
    token = hidden_token(page.text)

    done = await site.post(
        "/set-password",
        data={"token": token, "new_password": PASSWORD, "new_password_again": PASSWORD},
    )
    assert done.status_code == 200
    assert "Войдите с новым паролем" in done.text
    signed_in = await login(client, "new.teacher@example.org", PASSWORD)
    assert signed_in.status_code == 200
    me = await client.get(
        "/users/me", headers={"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    )
    assert me.json()["email_verified"] is True

    # Single use: the same link now says it no longer works.
    again = await site.get(link)
    assert again.status_code == 400 and "ссылка" in again.text.lower()
    replay = await site.post(
        "/set-password",
        data={
            "token": token,
            "new_password": "another-password",
            "new_password_again": "another-password",
        },
    )
    assert replay.status_code == 400
    assert (await login(client, "new.teacher@example.org", "another-password")).status_code == 401


async def test_a_short_or_mismatched_password_keeps_the_link_good(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    world: World,
    login_as: Login,
    smtp_server: SmtpServer,
) -> None:
    await create_teacher(client, world, login_as)
    link = invite_link(invitations_to(smtp_server, "new.teacher@example.org")[0])
    token = hidden_token((await site.get(link)).text)

    short = await site.post(
        "/set-password",
        data={"token": token, "new_password": "short", "new_password_again": "short"},
    )
    assert short.status_code == 422
    assert "at least 8" in error_after(short.text, "new_password")
    mismatch = await site.post(
        "/set-password",
        data={"token": token, "new_password": PASSWORD, "new_password_again": PASSWORD + "x"},
    )
    assert mismatch.status_code == 422
    assert "do not match" in error_after(mismatch.text, "new_password_again")
    assert hidden_token(mismatch.text) == token

    done = await site.post(
        "/set-password",
        data={"token": token, "new_password": PASSWORD, "new_password_again": PASSWORD},
    )
    assert done.status_code == 200 and "Sign in with your new password" in done.text


async def test_an_unknown_link_says_so_and_offers_a_new_one(site: httpx.AsyncClient) -> None:
    page = await site.get("/set-password", params={"token": "not-a-token"})

    assert page.status_code == 400
    assert "This link no longer works" in page.text
    assert "ask your school for a new invitation" in page.text.lower()
    assert 'action="/reset-password/new-link' in page.text


async def test_a_fresh_invitation_ends_the_old_link(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    world: World,
    login_as: Login,
    smtp_server: SmtpServer,
) -> None:
    created = await create_teacher(client, world, login_as)
    user_id = created.json()["id"]
    old = invite_link(invitations_to(smtp_server, "new.teacher@example.org")[0])

    response = await client.post(f"/users/{user_id}/invite", headers=login_as(world.admin))

    assert response.status_code == 202
    first, fresh = invitations_to(smtp_server, "new.teacher@example.org")
    assert invite_link(fresh) != old
    assert (await site.get(old)).status_code == 400
    assert (await site.get(invite_link(fresh))).status_code == 200


async def test_only_an_admin_of_every_school_of_the_user_reinvites(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    smtp_server: SmtpServer,
) -> None:
    other_school = School(name="Elsewhere")
    await other_school.insert()
    another_admin = await make_user(Role.admin, school_ids=[other_school.id])
    for user in (world.teacher, world.parent, another_admin):
        response = await client.post(f"/users/{world.teacher.id}/invite", headers=login_as(user))
        assert response.status_code in (403, 404), (user.role, response.status_code)
    assert (await client.post(f"/users/{world.teacher.id}/invite")).status_code == 401
    assert invitations_to(smtp_server, world.teacher.email) == []


async def test_with_a_password_the_account_gets_the_verification_mail(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: SmtpServer
) -> None:
    response = await client.post(
        "/users",
        json={
            "email": "with.password@example.org",
            "password": PASSWORD,
            "full_name": "Has Password",
            "role": "teacher",
            "school_id": str(world.school.id),
        },
        headers=login_as(world.admin),
    )

    assert response.status_code == 201
    [text] = invitations_to(smtp_server, "with.password@example.org")
    assert "/verify-email?token=" in text and "/set-password" not in text


async def test_a_reset_link_also_ends_the_invitation(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    world: World,
    login_as: Login,
    smtp_server: SmtpServer,
) -> None:
    created = await create_teacher(client, world, login_as)
    link = invite_link(invitations_to(smtp_server, "new.teacher@example.org")[0])
    reset = await client.post(
        f"/users/{created.json()['id']}/password-reset", headers=login_as(world.admin)
    )
    assert reset.status_code == 202
    reset_text = invitations_to(smtp_server, "new.teacher@example.org")[1]
    found = re.search(r"/reset-password\?token=([\w\-]+)", reset_text)
    assert found
    confirmed = await client.post(
        "/auth/password-reset/confirm", json={"token": found.group(1), "new_password": PASSWORD}
    )
    assert confirmed.status_code == 204

    assert (await site.get(link)).status_code == 400
    user = await User.find_one({"email": "new.teacher@example.org"})
    assert user is not None and user.email_verified and user.locale == Locale.en
    assert urlsplit(link).path == "/set-password"
