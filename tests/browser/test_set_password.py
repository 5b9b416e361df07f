"""An invited teacher, on a phone, opens the invitation from an import and chooses a password
on the page, in Russian and in English, with JavaScript off."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, WIDTHS, LiveApp, text_part
from tests.browser.page_checks import assert_valid, watch
from tests.pages import english_words

SHOTS = Path("/tmp/shots/import")
PHONE = {"width": 360, "height": 800}
_numbers = itertools.count()

WORDS = {
    "ru": {
        "password": "Пароль",
        "again": "Пароль ещё раз",
        "button": "Сохранить пароль",
        "mismatch": "Пароли не совпадают.",
        "done": "Войдите с новым паролем",
    },
    "en": {
        "password": "Password",
        "again": "Password again",
        "button": "Set my password",
        "mismatch": "The two passwords do not match.",
        "done": "Sign in with your new password",
    },
}


def invite_by_import(live: LiveApp, *, locale: str) -> tuple[str, str]:
    """A school whose admin imports one teacher; her address and the invitation's link."""
    admin = live.bearer(ADMIN_EMAIL, ADMIN_PASSWORD)
    school = live.api.post("/schools", json={"name": "Школа 57"}, headers=admin).json()
    email = f"teacher{next(_numbers)}-{locale}@browser.example.org"
    sheet = (
        "role,full_name,email,class,subjects,locale\r\n"
        f"teacher,Ирина Петрова,{email},5A,math,{locale}\r\n"
    )
    response = live.api.post(
        f"/schools/{school['id']}/import",
        files={"file": ("5A.csv", sheet.encode())},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    [message] = live.mail_to(email)
    text = text_part(message)
    start = text.index(live.base + "/set-password?token=")
    return email, text[start:].split()[0]


def shoot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} scrolls sideways at {width} px"
    page.set_viewport_size(PHONE)


@pytest.mark.parametrize("locale", ["ru", "en"])
def test_an_invited_teacher_sets_her_password_on_a_phone(
    live_app: LiveApp, open_browser: Any, locale: str
) -> None:
    email, link = invite_by_import(live_app, locale=locale)
    words = WORDS[locale]
    browser = watch(open_browser(locale="en"))  # the page follows the account's language
    page = browser.page
    page.set_viewport_size(PHONE)

    page.goto(link)
    assert page.locator("html").get_attribute("lang") == locale
    if locale == "ru":
        assert english_words(page.content()) == []
    assert email in page.inner_text("main")
    assert_valid(browser)
    shoot(page, f"set-password-{locale}")

    page.get_by_label(words["password"], exact=True).fill("first-password-1")
    page.get_by_label(words["again"]).fill("first-password-2")
    page.get_by_role("button", name=words["button"]).click()
    error = page.locator("#new_password_again-error")
    assert error.inner_text() == words["mismatch"]
    field_box = page.locator("#new_password_again").bounding_box()
    error_box = error.bounding_box()
    assert field_box and error_box
    assert 0 <= error_box["y"] - (field_box["y"] + field_box["height"]) < 40
    assert_valid(browser)
    shoot(page, f"set-password-mismatch-{locale}")

    page.get_by_label(words["password"], exact=True).fill("first-password-1")
    page.get_by_label(words["again"]).fill("first-password-1")
    page.get_by_role("button", name=words["button"]).click()
    assert page.get_by_role("heading", name=words["done"]).is_visible()
    assert_valid(browser)
    shoot(page, f"password-set-{locale}")

    signed_in = live_app.login(email, "first-password-1")
    me = live_app.api.get(
        "/users/me", headers={"Authorization": f"Bearer {signed_in['access_token']}"}
    ).json()
    assert me["email_verified"] is True

    # The link worked once: opening it again says so.
    page.goto(link)
    assert page.get_by_role(
        "heading",
        name="Эта ссылка больше не работает" if locale == "ru" else "This link no longer works",
    ).is_visible()
    assert_valid(browser)
    shoot(page, f"set-password-used-{locale}")
