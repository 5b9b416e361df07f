"""A person who only reads their email can do what it asks, in a real browser, with
JavaScript off, on a phone-sized screen and a desktop one."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from tests.browser.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    PASSWORD,
    LiveApp,
    html_part,
    link_in,
    text_part,
)
from tests.pages import english_words

_numbers = itertools.count()


def unique(name: str) -> str:
    return f"{name}{next(_numbers)}@browser.example.org"


def register(live: LiveApp, email: str, *, locale: str = "en", name: str = "Anna Smirnova") -> None:
    response = live.api.post(
        "/auth/register",
        json={
            "email": email,
            "password": PASSWORD,
            "full_name": name,
            "locale": locale,
            "timezone": "Europe/Moscow",
        },
    )
    assert response.status_code == 201, response.text


def verify_over_api(live: LiveApp, email: str) -> None:
    [message] = live.mail_to(email)
    token = link_in(text_part(message), "/verify-email").split("token=")[1]
    assert live.api.post("/auth/verify-email", json={"token": token}).status_code == 204


@dataclass
class School:
    school_id: str
    class_id: str
    student_id: str
    student_email: str
    teacher: dict[str, str]
    admin: dict[str, str]


def a_school(live: LiveApp) -> School:
    """A school, class 5A, a maths teacher and a student on its roster, set up over the API."""
    admin = live.bearer(ADMIN_EMAIL, ADMIN_PASSWORD)
    school = live.api.post(
        "/schools", json={"name": "School 57", "timezone": "Europe/Moscow"}, headers=admin
    ).json()
    klass = live.api.post(
        f"/schools/{school['id']}/classes", json={"name": "5A"}, headers=admin
    ).json()
    people = {}
    for role, name in (("teacher", "Irina Petrova"), ("student", "Masha Ivanova")):
        email = unique(role)
        response = live.api.post(
            "/users",
            json={
                "email": email,
                "password": PASSWORD,
                "full_name": name,
                "role": role,
                "school_id": school["id"],
            },
            headers=admin,
        )
        assert response.status_code == 201, response.text
        people[role] = (response.json()["id"], email)
    base = f"/schools/{school['id']}/classes/{klass['id']}"
    assert (
        live.api.put(
            f"{base}/teachers/{people['teacher'][0]}", json={"subjects": ["math"]}, headers=admin
        ).status_code
        == 204
    )
    assert live.api.put(f"{base}/students/{people['student'][0]}", headers=admin).status_code == 204
    return School(
        school_id=school["id"],
        class_id=klass["id"],
        student_id=people["student"][0],
        student_email=people["student"][1],
        teacher=live.bearer(people["teacher"][1], PASSWORD),
        admin=admin,
    )


def a_parent_of(live: LiveApp, school: School, *, locale: str) -> tuple[str, dict[str, str]]:
    email = unique("parent")
    register(live, email, locale=locale, name="Elena Ivanova")
    verify_over_api(live, email)
    code = live.api.post(
        f"/students/{school.student_id}/guardian-codes", headers=school.admin
    ).json()["code"]
    headers = live.bearer(email, PASSWORD)
    assert (
        live.api.post("/users/me/children", json={"code": code}, headers=headers).status_code == 201
    )
    return email, headers


def post_grade(live: LiveApp, school: School, value: int) -> None:
    response = live.api.post(
        "/grades",
        json={
            "student_id": school.student_id,
            "class_id": school.class_id,
            "subject": "math",
            "value": value,
            "kind": "test",
        },
        headers=school.teacher,
    )
    assert response.status_code == 201, response.text


def test_register_open_the_mailed_link_and_confirm(live_app: LiveApp, open_browser: Any) -> None:
    email = unique("newcomer")
    register(live_app, email)
    [message] = live_app.mail_to(email)
    link = link_in(text_part(message), "/verify-email")
    assert link.startswith(live_app.base + "/verify-email?token=")

    browser = open_browser()
    browser.page.goto(link)
    browser.shoot("verify-email-en")
    assert not live_app.login(email, PASSWORD).get("unused")
    me = live_app.api.get("/users/me", headers=live_app.bearer(email, PASSWORD)).json()
    assert me["email_verified"] is False  # opening the link changed nothing

    browser.page.get_by_role("button", name="Confirm my email").click()
    assert browser.page.get_by_role("heading", name="Email confirmed").is_visible()
    browser.shoot("email-confirmed-en")
    me = live_app.api.get("/users/me", headers=live_app.bearer(email, PASSWORD)).json()
    assert me["email_verified"] is True

    # The same link again: it says so and offers a new one.
    browser.page.goto(link)
    assert browser.page.get_by_role("heading", name="This link no longer works").is_visible()
    browser.shoot("verify-link-used-en")


def test_reset_with_a_mismatch_then_sign_in_with_the_new_password(
    live_app: LiveApp, open_browser: Any
) -> None:
    email = unique("forgetful")
    register(live_app, email)
    verify_over_api(live_app, email)
    old_refresh = live_app.login(email, PASSWORD)["refresh_token"]
    assert (
        live_app.api.post("/auth/password-reset/request", json={"email": email}).status_code == 202
    )
    link = link_in(text_part(live_app.mail_to(email, 2)[1]), "/reset-password")

    browser = open_browser()
    page = browser.page
    page.goto(link)
    browser.shoot("reset-password-en")
    page.get_by_label("New password", exact=True).fill("a-new-password-1")
    page.get_by_label("New password again").fill("a-new-password-2")
    page.get_by_role("button", name="Set the new password").click()
    error = page.locator("#new_password_again-error")
    assert error.inner_text() == "The two passwords do not match."
    # Right under its field.
    field_box = page.locator("#new_password_again").bounding_box()
    error_box = error.bounding_box()
    assert (
        field_box
        and error_box
        and 0 <= error_box["y"] - (field_box["y"] + field_box["height"]) < 40
    )
    browser.shoot("reset-password-mismatch-en")

    page.get_by_label("New password", exact=True).fill("a-new-password-1")
    page.get_by_label("New password again").fill("a-new-password-1")
    page.get_by_role("button", name="Set the new password").click()
    assert page.get_by_role("heading", name="Sign in with your new password").is_visible()
    browser.shoot("password-changed-en")

    assert live_app.login(email, "a-new-password-1")["access_token"]
    refused = live_app.api.post("/auth/refresh", json={"refresh_token": old_refresh})
    assert refused.status_code == 401


def test_manage_notifications_from_a_grade_email_then_no_immediate_email(
    live_app: LiveApp, open_browser: Any
) -> None:
    school = a_school(live_app)
    parent, _headers = a_parent_of(live_app, school, locale="en")
    post_grade(live_app, school, 4)
    grade_mail = live_app.mail_to(parent, 2)[1]  # after the verification email
    assert "New grade" in str(grade_mail["Subject"])
    manage = re.search(r'href="([^"]+)"[^>]*>Manage notifications</a>', html_part(grade_mail))
    assert manage, html_part(grade_mail)

    browser = open_browser()
    page = browser.page
    page.goto(manage.group(1).replace("&amp;", "&"))
    browser.shoot("preferences-en")
    page.get_by_role("group", name="Grades").get_by_label("Email", exact=True).select_option(
        "daily"
    )
    page.get_by_role("button", name="Save").click()
    assert page.get_by_role("status").inner_text() == "Saved"
    browser.shoot("preferences-saved-en")

    post_grade(live_app, school, 5)
    # The student's own email about the second grade is the sign the notice went out...
    live_app.mail_to(school.student_email, 3)  # verification, first grade, second grade
    # ...and the parent, now on a daily digest, got nothing more.
    assert len(live_app.mail_to(parent, 2)) == 2


def test_unsubscribe_in_russian_with_one_click(live_app: LiveApp, open_browser: Any) -> None:
    school = a_school(live_app)
    parent, headers = a_parent_of(live_app, school, locale="ru")
    response = live_app.api.post(
        "/announcements",
        json={
            "school_id": school.school_id,
            "title": "Родительское собрание",
            "body": "В четверг в 19:00",
        },
        headers=school.admin,
    )
    assert response.status_code == 202, response.text
    mail = live_app.mail_to(parent, 2)[1]
    link = str(mail["List-Unsubscribe"]).strip("<>")
    assert "Вы получили это письмо, потому что" in text_part(mail)

    browser = open_browser(locale="en-US")  # the browser says English; the user reads Russian
    page = browser.page
    page.set_content(html_part(mail))
    browser.shoot("email-announcement-ru")
    page.goto(link)
    assert page.locator("html").get_attribute("lang") == "ru"
    assert "Объявления на почту" in page.content()
    assert english_words(page.content()) == []
    browser.shoot("unsubscribe-ru")
    page.get_by_role("button", name="Отписаться").click()
    assert page.get_by_role("heading", name="Вы отписались").is_visible()
    assert english_words(page.content()) == []
    browser.shoot("unsubscribed-ru")

    preferences = live_app.api.get("/users/me/preferences", headers=headers).json()
    assert preferences["email"] == {
        "grades": "immediate",
        "announcements": "off",
        "homework": "daily",
        "attendance": "immediate",
    }


def every_field_is_labelled(page: Any) -> None:
    fields = page.locator("input:not([type=hidden]), select")
    for index in range(fields.count()):
        field = fields.nth(index)
        name = field.get_attribute("name")
        assert field.evaluate("element => element.labels.length") > 0, f"{name} has no label"


def check_page(browser: Any, name: str, *, locale: str) -> None:
    page = browser.page
    assert page.locator("html").get_attribute("lang") == locale, name
    assert page.locator("script").count() == 0, name
    every_field_is_labelled(page)
    if locale == "ru":
        assert english_words(page.content()) == [], name
    browser.shoot(f"{name}-{locale}")


def test_every_page_works_without_javascript(live_app: LiveApp, open_browser: Any) -> None:
    from datetime import timedelta

    from beanie import PydanticObjectId

    from app.core.security import utcnow
    from app.notifications.links import preferences_token, unsubscribe_token
    from tests.conftest import make_settings

    signing = make_settings(live_app.screenshots)  # the same test secret as the live app
    for locale in ("en", "ru"):
        email = unique(f"pages-{locale}")
        register(live_app, email, locale=locale)
        [mail] = live_app.mail_to(email)
        user_id = PydanticObjectId(
            live_app.api.get("/users/me", headers=live_app.bearer(email, PASSWORD)).json()["id"]
        )
        browser = open_browser(locale=locale)
        page = browser.page

        page.goto(link_in(text_part(mail), "/verify-email"))
        check_page(browser, "verify-email", locale=locale)
        page.goto(f"{live_app.base}/verify-email?token=gone&lang={locale}")
        check_page(browser, "verify-link-problem", locale=locale)
        page.locator("#email").fill("")
        page.locator("form button").click()
        assert page.locator("#email-error").is_visible()
        check_page(browser, "verify-new-link-error", locale=locale)
        page.locator("#email").fill(email)
        page.locator("form button").click()
        check_page(browser, "verify-new-link-sent", locale=locale)

        page.goto(f"{live_app.base}/reset-password?token=gone&lang={locale}")
        check_page(browser, "reset-link-problem", locale=locale)
        live_app.api.post("/auth/password-reset/request", json={"email": email})
        reset_mail = live_app.mail_to(email, 3)[2]
        page.goto(link_in(text_part(reset_mail), "/reset-password"))
        page.locator("#new_password").fill("short")
        page.locator("#new_password_again").fill("short")
        page.locator("form button").click()
        assert page.locator("#new_password-error").is_visible()
        check_page(browser, "reset-password-too-short", locale=locale)

        token = preferences_token(settings=signing, user_id=user_id)
        page.goto(f"{live_app.base}/preferences?token={token}")
        check_page(browser, "preferences", locale=locale)
        page.emulate_media(color_scheme="dark")
        browser.shoot(f"preferences-dark-{locale}")
        page.emulate_media(color_scheme="light")
        page.locator("#quiet_enabled").check()
        page.locator("#quiet_start").fill("07:00")
        page.locator("#quiet_end").fill("07:00")
        page.locator("#timezone").fill("Mars/Olympus")
        page.locator("form button").click()
        assert page.locator("#quiet_end-error").is_visible()
        assert page.locator("#timezone-error").is_visible()
        check_page(browser, "preferences-errors", locale=locale)

        expired = preferences_token(
            settings=signing, user_id=user_id, now=utcnow() - timedelta(days=61)
        )
        page.goto(f"{live_app.base}/preferences?token={expired}")
        check_page(browser, "preferences-expired", locale=locale)
        page.locator("form button").click()
        check_page(browser, "preferences-new-link-sent", locale=locale)

        topics = ["grades", "announcements"]
        fresh = unsubscribe_token(settings=signing, user_id=user_id, topics=topics)
        page.goto(f"{live_app.base}/unsubscribe?token={fresh}")
        check_page(browser, "unsubscribe", locale=locale)
        old = unsubscribe_token(
            settings=signing, user_id=user_id, topics=topics, now=utcnow() - timedelta(days=61)
        )
        page.goto(f"{live_app.base}/unsubscribe?token={old}")
        check_page(browser, "unsubscribe-expired", locale=locale)
        page.goto(f"{live_app.base}/unsubscribe?token=forged&lang={locale}")
        check_page(browser, "unsubscribe-invalid", locale=locale)


def test_swagger_ui_works_offline_and_authorize_logs_in(
    live_app: LiveApp, open_browser: Any
) -> None:
    browser = open_browser(javascript=True)
    page = browser.page
    page.goto(f"{live_app.base}/docs")
    page.get_by_role("button", name="Authorize").first.click()
    page.locator("#oauth_username").fill(ADMIN_EMAIL)
    page.locator("#oauth_password").fill(ADMIN_PASSWORD)
    page.locator(".modal-ux button.authorize").click()
    page.locator(".modal-ux").get_by_text("Authorized", exact=True).wait_for()
    assert page.locator(".modal-ux").get_by_text(ADMIN_EMAIL).is_visible()
    assert page.locator(".modal-ux .errors").count() == 0
    page.screenshot(path=str(live_app.screenshots / "docs-authorized-1280.png"))


def test_rendered_emails_look_right(live_app: LiveApp, open_browser: Any) -> None:
    """Screenshots of the emails people get, in both languages, as a browser shows them."""
    from datetime import UTC, datetime

    from app.core.i18n import translate
    from app.delivery.render import render, template_path, when

    school = a_school(live_app)
    browser = open_browser()
    for locale in ("en", "ru"):
        # A digest as the digest job words it (sending one needs the clock to move on).
        moment = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
        item = {
            "when": when(moment, locale, "Europe/Moscow"),
            "title": "",
            "body": "",
            "template": {
                part: template_path("grades/digest_item", locale, part) for part in ("html", "txt")
            },
            "grade": {
                "subject": "math",
                "value": 5,
                "comment": "Excellent",
                "kind": "test",
                "teacher": "Irina Petrova",
                "changed": False,
            },
        }
        digest = render(
            "digest",
            locale,
            period="daily",
            count=2,
            groups=[
                {
                    "heading": "Masha Ivanova",
                    "topic_label": translate(locale, "topics.grades.name"),
                    "items": [item, item],
                }
            ],
            unsubscribe_url=f"{live_app.base}/unsubscribe?token=x",
            preferences_url=f"{live_app.base}/preferences?token=x",
            reason=translate(locale, "reason.daily"),
        )
        browser.page.set_content(digest.html)
        browser.shoot(f"email-digest-{locale}")
    for locale in ("en", "ru"):
        parent, _ = a_parent_of(live_app, school, locale=locale)
        post_grade(live_app, school, 5)
        verification, grade = live_app.mail_to(parent, 2)
        for name, message in (("verify", verification), ("grade", grade)):
            browser.page.set_content(html_part(message))
            browser.shoot(f"email-{name}-{locale}")
        browser.page.emulate_media(color_scheme="dark")
        browser.shoot(f"email-grade-dark-{locale}")
        browser.page.emulate_media(color_scheme="light")
