"""The "I have read this" button, end to end: the email as a real SMTP server (aiosmtpd)
receives it, the page its link opens, and the POST that records the answer."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx

from app.auth.models import Locale
from tests.announcements.acks_helpers import ASKED_IN_5A, whole_list
from tests.announcements.helpers import Login, announce
from tests.delivery.conftest import CountingSmtpServer, settings, smtp_server  # noqa: F401
from tests.delivery.helpers import html_of, received_by, text_of, token_of, unsubscribe_link
from tests.notifications.helpers import Campus
from tests.pages import english_words

ACK_LINK = re.compile(r"http://testserver/acknowledge\?token=[A-Za-z0-9_.\-%]+")
TITLE = "Родительское собрание"
BODY = "Собрание в четверг в 18:00, кабинет 12. Подпишите согласие на экскурсию."


async def _russian(campus: Campus, name: str) -> None:
    person = campus.people[name]
    person.locale = Locale.ru
    await person.save()


def _author_words(campus: Campus, text: str) -> str:
    """The text without the names the school chose (its own, the author's): those stay as
    written in every language."""
    for words in (campus.school.name, campus.people["admin"].full_name):
        text = text.replace(words, " ")
    return text


async def test_the_email_button_opens_a_page_whose_post_records_the_answer(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    campus: Campus,
    login_as: Login,
    smtp_server: CountingSmtpServer,  # noqa: F811
) -> None:
    await _russian(campus, "p_child")
    admin = login_as(campus.people["admin"])
    posted = await announce(
        client,
        admin,
        campus,
        title=TITLE,
        body=BODY,
        class_ids=[str(campus.class_5a.id)],
        requires_ack=True,
    )
    announcement_id = posted.json()["id"]

    [russian] = received_by(smtp_server, campus.people["p_child"].email)
    text, html = text_of(russian), html_of(russian)
    [link] = ACK_LINK.findall(text)
    assert link in html and "Я прочитал(а)" in html
    # Everything Schoolbell added is Russian: subject, button, footer.
    for part in (str(russian["Subject"]), text, html):
        assert english_words(_author_words(campus, part)) == [], part

    [english] = received_by(smtp_server, campus.people["p_all"].email)
    assert "I have read this" in html_of(english)
    # Each reader's button is their own.
    assert ACK_LINK.findall(text_of(english)) != [link]
    # Told, not asked: a teacher's email has no button.
    [teacher] = received_by(smtp_server, campus.people["t5a"].email)
    assert ACK_LINK.findall(text_of(teacher)) == []

    # Opening the link (as a mail scanner would) changes nothing.
    url = urlsplit(link)
    page = await site.get(f"{url.path}?{url.query}")
    assert page.status_code == 200
    assert TITLE in page.text and "Я прочитал(а)" in page.text
    assert english_words(_author_words(campus, page.text)) == []
    assert await whole_list(client, campus, admin, announcement_id) == (set(), ASKED_IN_5A)

    done = await site.post("/acknowledge", data={"token": token_of(link)})
    assert done.status_code == 200
    assert "Спасибо" in done.text
    assert english_words(_author_words(campus, done.text)) == []
    assert await whole_list(client, campus, admin, announcement_id) == (
        {"p_child"},
        ASKED_IN_5A - {"p_child"},
    )
    # Pressed again: the same answer, still one acknowledgement.
    assert (await site.post("/acknowledge", data={"token": token_of(link)})).status_code == 200
    assert (await whole_list(client, campus, admin, announcement_id))[0] == {"p_child"}
    # The other links of the email open pages too.
    unsubscribe = urlsplit(unsubscribe_link(russian))
    assert (await site.get(f"{unsubscribe.path}?{unsubscribe.query}")).status_code == 200

    # The reminder goes to those still pending, Russian for a Russian reader.
    await _russian(campus, "p_class5a")
    assert (
        await client.post(f"/announcements/{announcement_id}/remind", headers=admin)
    ).status_code == 202
    assert len(received_by(smtp_server, campus.people["p_child"].email)) == 1
    reminder = received_by(smtp_server, campus.people["p_class5a"].email)[-1]
    assert str(reminder["Subject"]).startswith("[Напоминание]")
    assert english_words(_author_words(campus, text_of(reminder))) == []
    assert ACK_LINK.findall(text_of(reminder))


async def test_a_link_that_is_not_an_acknowledgement_link_is_refused(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    campus: Campus,
    login_as: Login,
    smtp_server: CountingSmtpServer,  # noqa: F811
) -> None:
    await announce(
        client,
        login_as(campus.people["admin"]),
        campus,
        class_ids=[str(campus.class_5a.id)],
        requires_ack=True,
    )
    [message] = received_by(smtp_server, campus.people["p_child"].email)
    [link] = ACK_LINK.findall(text_of(message))
    forged = token_of(link)[:-4] + "AAAA"
    assert (await site.get("/acknowledge", params={"token": forged})).status_code == 400
    assert (await site.post("/acknowledge", data={"token": forged})).status_code == 400
    # An unsubscribe token is signed for another purpose.
    other_purpose = token_of(unsubscribe_link(message))
    assert (await site.post("/acknowledge", data={"token": other_purpose})).status_code == 400
    assert (await site.get("/acknowledge")).status_code == 400
    admin = login_as(campus.people["admin"])
    [announced] = (await client.get("/announcements", headers=admin)).json()["items"]
    page = await client.get(f"/announcements/{announced['id']}/acks", headers=admin)
    assert page.json()["acknowledged"] == []
