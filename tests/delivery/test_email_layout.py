"""What every notification email shares: the layout, the footer that says why, the links,
and the reader's own language, dates and grade kinds."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from app.auth.models import Role, User
from app.core.i18n import format_date
from tests.conftest import UserFactory, World
from tests.delivery.conftest import CountingSmtpServer
from tests.delivery.helpers import html_of, only_message_to, text_of, unsubscribe_link
from tests.delivery.test_grade_emails import follow
from tests.grades.helpers import posted, school_today

Login = Callable[[User], dict[str, str]]


def styled_html(message: object) -> str:
    part = message.get_body(preferencelist=("html",))  # type: ignore[attr-defined]
    return str(part.get_content())


def links_in(text: str, path: str) -> list[str]:
    return re.findall(rf"http://testserver{path}\?token=[\w.\-]+", text)


async def test_a_grade_email_says_who_why_and_where_to_change_it(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    world: World,
    login_as: Login,
    smtp_server: CountingSmtpServer,
) -> None:
    await follow(world)
    await posted(client, login_as(world.teacher), world, value=4, kind="test")

    message = only_message_to(smtp_server, world.parent.email)
    text, html = text_of(message), html_of(message)
    reason = f"You get this because you follow {world.student.full_name}, 5A."
    assert reason in text and reason in html
    assert "Grade: 4 (test)" in text
    assert f"Date: {format_date(school_today(world), 'en')}" in text
    # The school's name heads the layout.
    assert re.search(r'<td class="school">School 1</td>', html)
    [manage] = links_in(text, "/preferences")
    assert f'href="{manage}">Manage notifications</a>' in html
    assert unsubscribe_link(message) in text
    page = await site.get(urlsplit(manage).path + "?" + urlsplit(manage).query)
    assert page.status_code == 200 and "Notification settings" in page.text

    # The student is told it is their own grade.
    own = text_of(only_message_to(smtp_server, world.student.email))
    assert "You get this because it is your grade." in own


async def test_the_html_is_inlined_600_px_and_readable_in_dark_mode(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    await follow(world)
    await posted(client, login_as(world.teacher), world)

    html = styled_html(only_message_to(smtp_server, world.parent.email))
    assert 'width="600"' in html and "max-width: 600px" in html
    # Mail clients drop <style>: every styled element carries its own style...
    assert re.search(r'<td class="content" style="[^"]*font-size: 16px', html)
    assert "<link" not in html and "http://testserver/static" not in html
    # ...and only the dark-mode rules stay in a <style>, for the clients that read them.
    [style] = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert style.strip().startswith("@media (prefers-color-scheme: dark)")
    assert 'name="color-scheme" content="light dark"' in html


async def test_a_russian_reader_gets_everything_in_russian(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    smtp_server: CountingSmtpServer,
) -> None:
    parent = await make_user(
        Role.parent, locale="ru", timezone="Europe/Moscow", full_name="Мария Иванова"
    )
    await follow(world, parent)
    await posted(client, login_as(world.teacher), world, value=5, kind="test")

    message = only_message_to(smtp_server, parent.email)
    text = text_of(message)
    assert "Оценка: 5 (контрольная)" in text
    assert f"Дата: {format_date(school_today(world), 'ru')}" in text
    assert re.search(r"Дата: \d{1,2} [а-я]+ \d{4}\n", text)
    assert f"потому что следите за успехами: {world.student.full_name}, 5A." in text
    assert "Настроить уведомления: http://testserver/preferences?token=" in text
    assert "Отписаться: http://testserver/unsubscribe?token=" in text
    latin = set(re.findall(r"[A-Za-z]{3,}", re.sub(r"https?://\S+", "", text)))
    names = set(re.findall(r"[A-Za-z]+", f"{world.student.full_name} {world.teacher.full_name}"))
    assert latin - names - {"math", "Schoolbell"} == set()

    # The inbox speaks each reader's language, written when the notice was made.
    inbox = await client.get("/notifications", headers=login_as(parent))
    [notice] = inbox.json()["items"]
    assert notice["title"] == f"{world.student.full_name}: новая оценка, math"
    assert notice["body"] == "5 (контрольная), math"
    student_inbox = await client.get("/notifications", headers=login_as(world.student))
    assert student_inbox.json()["items"][0]["title"].endswith(": new grade in math")


async def test_account_mail_leads_to_a_page_not_to_a_code(
    client: httpx.AsyncClient, world: World, smtp_server: CountingSmtpServer
) -> None:
    await client.post("/auth/password-reset/request", json={"email": world.parent.email})
    message = only_message_to(smtp_server, world.parent.email)
    text = text_of(message)
    assert "code" not in text.lower() and "app" not in text.lower().split()
    assert "within 30 minutes" in text
    [link] = links_in(text, "/reset-password")
    assert f'href="{link}">Choose a new password</a>' in html_of(message)
    # No unsubscribe or preference links: account mail is not a notification.
    assert "/unsubscribe" not in text and "/preferences" not in text


def test_every_email_is_written_in_every_language() -> None:
    from app.delivery.render import LOCALES, TEMPLATES

    written = {locale: {p.name for p in (TEMPLATES / locale).iterdir()} for locale in LOCALES}
    for locale, names in written.items():
        for other, theirs in written.items():
            assert names >= theirs, f"{locale} lacks {sorted(theirs - names)} that {other} has"
