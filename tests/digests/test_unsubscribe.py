"""A digest's one-click unsubscribe link (RFC 8058) turns off exactly the digest's topics."""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.auth.models import User
from app.core.security import as_utc
from app.notifications import digests as digests
from app.notifications.preferences import EmailFrequency
from app.notifications.topics import topics
from tests.conftest import SmtpServer
from tests.digests.helpers import (
    VLADIVOSTOK,
    Family,
    announce,
    choose,
    html_of,
    post_grade,
    received,
    stored,
    text_of,
    vl,
)

Login = Callable[[User], dict[str, str]]
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def link_of(message: EmailMessage) -> str:
    header = str(message["List-Unsubscribe"])
    assert header.startswith("<") and header.endswith(">")
    return header[1:-1]


def token_of(link: str) -> str:
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "testserver", "/unsubscribe")
    [token] = parse_qs(parts.query)["token"]
    return token


@pytest.fixture
async def olga(family: Family) -> User:
    return await choose(
        family.olga,
        now=vl(10, 9),
        timezone=VLADIVOSTOK,
        # Homework off: the digest's topics are then every topic a digest would carry.
        email={"grades": "daily", "announcements": "daily", "homework": "off"},
    )


async def test_the_digest_link_turns_off_the_digests_topics(
    client: httpx.AsyncClient,
    family: Family,
    olga: User,
    login_as: Login,
    smtp_server: SmtpServer,
) -> None:
    teacher = login_as(family.world.teacher)
    await post_grade(client, teacher, family, family.anna, at=vl(10, 10))
    await announce(family, [olga], at=vl(10, 11), title="Trip", body="Zoo")
    await digests.scan(now=vl(10, 18))
    [digest] = received(smtp_server, olga)
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = link_of(digest)
    token = token_of(link)
    # The bodies carry the same link as the header.
    assert link in text_of(digest)
    assert f'href="{link}"' in html_of(digest)

    # Following the link only shows what it would do.
    page = await client.get("/unsubscribe", params={"token": token})
    assert page.status_code == 200
    assert 'method="post"' in page.text
    # Olga reads Russian: the page names both topics in her language.
    assert "Оценки на почту" in page.text and "Объявления на почту" in page.text
    assert (await stored(olga)).preferences.email["grades"] == EmailFrequency.daily

    response = await client.post("/unsubscribe", params={"token": token}, data=ONE_CLICK)
    assert response.status_code == 200
    after = await stored(olga)
    assert after.preferences.email["grades"] == EmailFrequency.off
    assert after.preferences.email["announcements"] == EmailFrequency.off
    # No topic uses a digest any more: none is due.
    assert after.digest_due.daily is None and after.next_digest_at is None
    preferences = (await client.get("/users/me/preferences", headers=login_as(olga))).json()
    # Every topic the digests carried (Olga's, and those digested by default, as homework
    # is) is off; the topics that were in no digest keep what they had.
    digested = {"grades", "announcements"} | {
        t.name for t in topics.all() if t.default_email.value in ("daily", "weekly")
    }
    assert preferences["email"] == {
        t.name: "off" if t.name in digested else t.default_email.value for t in topics.all()
    }

    # New grades reach the inbox and no email.
    await post_grade(client, teacher, family, family.boris, at=vl(11, 10))
    assert await digests.scan(now=vl(11, 18)) == 0
    assert len(received(smtp_server, olga)) == 1


async def test_a_grades_only_digest_leaves_announcements_alone(
    client: httpx.AsyncClient,
    family: Family,
    olga: User,
    login_as: Login,
    smtp_server: SmtpServer,
) -> None:
    await post_grade(client, login_as(family.world.teacher), family, family.anna, at=vl(10, 10))
    await digests.scan(now=vl(10, 18))
    [digest] = received(smtp_server, olga)
    token = token_of(link_of(digest))
    response = await client.post("/unsubscribe", params={"token": token}, data=ONE_CLICK)
    assert response.status_code == 200
    after = await stored(olga)
    assert after.preferences.email["grades"] == EmailFrequency.off
    assert after.preferences.email["announcements"] == EmailFrequency.daily
    # The announcements digest keeps its place: tomorrow's evening.
    assert after.digest_due.daily is not None
    assert as_utc(after.digest_due.daily) == vl(11, 18)


async def test_a_tampered_digest_link_changes_nothing(
    client: httpx.AsyncClient,
    family: Family,
    olga: User,
    login_as: Login,
    smtp_server: SmtpServer,
) -> None:
    await post_grade(client, login_as(family.world.teacher), family, family.anna, at=vl(10, 10))
    await digests.scan(now=vl(10, 18))
    [digest] = received(smtp_server, olga)
    token = token_of(link_of(digest))
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    for bad in (f"{header}.{payload}.{flipped}", "not-a-token"):
        response = await client.post("/unsubscribe", params={"token": bad}, data=ONE_CLICK)
        assert response.status_code == 400
    # A real token without the one-click body is refused as well.
    response = await client.post("/unsubscribe", params={"token": token}, data={"x": "y"})
    assert response.status_code == 400
    assert (await stored(olga)).preferences.email["grades"] == EmailFrequency.daily
