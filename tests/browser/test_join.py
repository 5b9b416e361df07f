"""A parent acts on the guardian-code email in a real browser, JavaScript off, on a phone:
new here (register, confirm from the mailed link, child linked) or with an account (linked
at once). Screenshots at 360 and 1280 px, in both languages, go to /tmp/shots/join/."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import PASSWORD, WIDTHS, LiveApp, html_part, link_in, text_part
from tests.browser.page_checks import assert_valid, watch
from tests.browser.test_email_to_page import a_school, register, unique, verify_over_api
from tests.pages import english_words

SHOTS = Path("/tmp/shots/join")
PHONE = {"width": WIDTHS[0], "height": 800}


@pytest.fixture(scope="module", autouse=True)
def shots_folder() -> None:
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)


def keep(browser: Any, name: str) -> None:
    """The page at both widths into SHOTS (and the run's own folder, by Guarded.shoot),
    after checking its markup and accessibility."""
    assert_valid(browser)
    browser.shoot(name)
    for width in WIDTHS:
        shutil.copy(browser.live.screenshots / f"{name}-{width}.png", SHOTS / f"{name}-{width}.png")
    browser.page.set_viewport_size(PHONE)


def join_link_mailed(live: LiveApp, school: Any, email: str) -> str:
    """The admin mails a guardian code; the link in the email a parent receives."""
    before = len(live.mail_to(email, 0))
    issued = live.api.post(
        f"/students/{school.student_id}/guardian-codes", json={"email": email}, headers=school.admin
    )
    assert issued.status_code == 201, issued.text
    message = live.mail_to(email, before + 1)[-1]
    found = re.search(r"https?://\S+/join\?code=[A-Z0-9]+", text_part(message))
    assert found, text_part(message)
    assert f'href="{found.group(0)}"' in html_part(message)
    return found.group(0)


def children_of(live: LiveApp, email: str) -> list[str]:
    listed = live.api.get("/users/me/children", headers=live.bearer(email, PASSWORD))
    return [child["full_name"] for child in listed.json()["items"]]


@pytest.mark.parametrize("locale", ["en", "ru"])
def test_a_new_parent_joins_from_the_email_on_a_phone(
    live_app: LiveApp, open_browser: Any, locale: str
) -> None:
    school = a_school(live_app)
    email = unique(f"newparent-{locale}")
    link = join_link_mailed(live_app, school, email)

    browser = watch(open_browser(locale=locale))
    page = browser.page
    page.set_viewport_size(PHONE)
    page.goto(link)
    keep(browser, f"join-{locale}")
    words = {
        "en": ("I am new here", "Your full name", "Password again", "Create my account"),
        "ru": ("Я здесь впервые", "Ваши имя и фамилия", "Пароль ещё раз", "Создать учётную запись"),
    }[locale]
    assert page.get_by_role("heading", name=words[0]).is_visible()
    assert "Masha" in page.locator("main").inner_text()
    assert "Ivanova" not in page.locator("main").inner_text()
    if locale == "ru":
        assert english_words(page.content().replace("Masha", "").replace("School 57", "")) == []
    # Stacked on a phone: the sign-in form is below the new-account form, not beside it.
    new_box = page.locator("#new-heading").bounding_box()
    existing_box = page.locator("#existing-heading").bounding_box()
    assert new_box and existing_box and existing_box["y"] > new_box["y"] + 200

    # A mismatch first: the error sits right under its field, the form is kept.
    page.get_by_label(words[1]).fill("Elena Ivanova")
    page.get_by_label(words[2]).fill("something-else-1")
    page.locator("#new_password").fill(PASSWORD)
    page.get_by_role("button", name=words[3]).click()
    error = page.locator("#new_password_again-error")
    assert error.is_visible()
    field_box, error_box = page.locator("#new_password_again").bounding_box(), error.bounding_box()
    assert field_box and error_box
    assert 0 <= error_box["y"] - (field_box["y"] + field_box["height"]) < 40
    keep(browser, f"join-mismatch-{locale}")

    page.locator("#new_password").fill(PASSWORD)
    page.get_by_label(words[2]).fill(PASSWORD)
    page.get_by_role("button", name=words[3]).click()
    assert email in page.locator("main").inner_text()
    keep(browser, f"join-check-email-{locale}")

    # The confirmation email, opened in the same browser: confirming links the child.
    [_, confirmation] = live_app.mail_to(email, 2)
    page.goto(link_in(text_part(confirmation), "/verify-email"))
    page.get_by_role("button").click()
    keep(browser, f"join-confirmed-{locale}")
    assert children_of(live_app, email) == ["Masha Ivanova"]

    # The code is spent: the link from the email now says so, and what to ask for.
    page.goto(link)
    assert page.locator(".problem").is_visible()
    keep(browser, f"join-used-{locale}")


def test_an_existing_parent_signs_in_and_is_linked_at_once(
    live_app: LiveApp, open_browser: Any
) -> None:
    school = a_school(live_app)
    email = unique("existing")
    register(live_app, email, name="Elena Ivanova")
    verify_over_api(live_app, email)
    link = join_link_mailed(live_app, school, email)

    browser = watch(open_browser())
    page = browser.page
    page.set_viewport_size(PHONE)
    page.goto(link)
    section = page.locator("section", has=page.get_by_role("heading", name="I already have"))
    section.get_by_label("Email").fill(email)
    section.get_by_label("Password").fill(PASSWORD)
    section.get_by_role("button", name="Sign in and link").click()

    assert page.get_by_role("heading", name="You now follow Masha").is_visible()
    keep(browser, "join-linked-en")
    assert children_of(live_app, email) == ["Masha Ivanova"]


def test_the_site_root_on_a_phone(live_app: LiveApp, open_browser: Any) -> None:
    for locale in ("en", "ru"):
        browser = watch(open_browser(locale=locale))
        browser.page.set_viewport_size(PHONE)
        browser.page.goto(live_app.base + "/")
        keep(browser, f"home-{locale}")
        browser.page.locator("a[href^='/join']").click()
        assert browser.page.locator("#code").is_visible()
        keep(browser, f"join-enter-{locale}")
