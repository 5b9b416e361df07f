"""The page of the "I have read this" link when the link cannot answer: expired, for
someone who was not asked, or for an announcement that asks nothing."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import httpx

from app.announcements.links import ack_url
from app.auth.models import Locale
from app.core.config import Settings
from app.core.security import utcnow
from tests.announcements.acks_helpers import ack_announcement, acks_of
from tests.announcements.helpers import Login, announce
from tests.notifications.helpers import Campus
from tests.pages import english_words


def _path(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


async def test_an_expired_link_says_so_in_the_readers_language_and_records_nothing(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    campus: Campus,
    login_as: Login,
    settings: Settings,
) -> None:
    announcement_id = await ack_announcement(client, campus, login_as)
    parent = campus.people["p_child"]
    parent.locale = Locale.ru
    await parent.save()
    assert parent.id is not None
    old = ack_url(
        settings=settings,
        user_id=parent.id,
        announcement_id=announcement_id,
        now=utcnow() - timedelta(days=61),
    )
    page = await site.get(_path(old))
    assert page.status_code == 400
    assert "Срок действия ссылки истёк" in page.text
    assert english_words(page.text) == []
    token = urlsplit(old).query.removeprefix("token=")
    assert (await site.post("/acknowledge", data={"token": token})).status_code == 400
    listing = await acks_of(client, login_as(campus.people["admin"]), announcement_id)
    assert listing["acknowledged"] == []


async def test_a_link_for_someone_not_asked_or_a_plain_announcement_records_nothing(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    campus: Campus,
    login_as: Login,
    settings: Settings,
) -> None:
    announcement_id = await ack_announcement(client, campus, login_as)
    teacher_id = campus.id("t5a")
    told_not_asked = ack_url(settings=settings, user_id=teacher_id, announcement_id=announcement_id)
    assert (await site.get(_path(told_not_asked))).status_code == 403
    token = urlsplit(told_not_asked).query.removeprefix("token=")
    refused = await site.post("/acknowledge", data={"token": token})
    assert refused.status_code == 403
    assert "did not ask you" in refused.text

    plain = await announce(client, login_as(campus.people["admin"]), campus)
    link = ack_url(
        settings=settings, user_id=campus.id("p_child"), announcement_id=plain.json()["id"]
    )
    assert (await site.get(_path(link))).status_code == 404
    listing = await acks_of(client, login_as(campus.people["admin"]), announcement_id)
    assert listing["acknowledged"] == []
