"""The preference centre and the unsubscribe page, opened from signed email links."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.auth.models import User
from app.core.config import Settings
from app.core.security import utcnow
from app.notifications.links import preferences_token, unsubscribe_token
from app.notifications.topics import topics
from tests.auth.conftest import outbox, text_of
from tests.auth.test_pages import error_after
from tests.conftest import World
from tests.pages import english_words

Login = Callable[[User], dict[str, str]]

# The topics this test does not set keep their declared defaults (read from the registry,
# so a producer's new topic changes nothing here).
SET_HERE = ("grades", "announcements", "messages")
OTHERS = [t for t in topics.all() if t.name not in SET_HERE]
FULL_FORM = {
    **{f"email_{t.name}": t.default_email.value for t in OTHERS},
    **{f"in_app_{t.name}": "on" for t in OTHERS if t.default_in_app},
    "email_grades": "daily",
    "email_announcements": "off",
    "in_app_announcements": "on",
    "email_messages": "weekly",
    "in_app_messages": "on",
    "digest_hour": "7",
    "digest_weekday": "2",
    "quiet_enabled": "on",
    "quiet_start": "21:30",
    "quiet_end": "07:00",
    "min_priority": "high",
    "locale": "ru",
    "timezone": "Asia/Vladivostok",
}


async def api_preferences(client: httpx.AsyncClient, user: User, login_as: Login) -> Any:
    response = await client.get("/users/me/preferences", headers=login_as(user))
    assert response.status_code == 200
    return response.json()


def selected(page: str, field: str) -> str:
    block = re.search(rf'<select id="{field}".*?</select>', page, re.S)
    assert block, field
    found = re.search(r'<option value="([^"]*)" selected>', block.group(0))
    assert found, field
    return found.group(1)


async def test_the_centre_shows_and_saves_every_preference(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    settings: Settings,
    world: World,
    login_as: Login,
) -> None:
    assert world.parent.id is not None
    token = preferences_token(settings=settings, user_id=world.parent.id)
    defaults = await api_preferences(client, world.parent, login_as)

    page = await site.get("/preferences", params={"token": token})
    assert page.status_code == 200
    assert selected(page.text, "email_grades") == "immediate"
    assert selected(page.text, "digest_hour") == "18"
    assert await api_preferences(client, world.parent, login_as) == defaults

    saved = await site.post("/preferences", data={"token": token, **FULL_FORM})
    assert saved.status_code == 200, saved.text
    # Saved in the language just chosen, and the form shows the saved state.
    assert "Сохранено" in saved.text and english_words(saved.text) == []
    assert selected(saved.text, "email_grades") == "daily"
    assert await api_preferences(client, world.parent, login_as) == {
        "email": {
            **{t.name: t.default_email.value for t in OTHERS},
            "grades": "daily",
            "announcements": "off",
            "messages": "weekly",
        },
        "in_app": {
            **{t.name: t.default_in_app for t in OTHERS},
            "grades": False,
            "announcements": True,
            "messages": True,
        },
        "digest_hour": 7,
        "digest_weekday": 2,
        "quiet_hours": {"start": "21:30", "end": "07:00"},
        "min_priority": "high",
        "include_grade_values": False,
    }
    me = (await client.get("/users/me", headers=login_as(world.parent))).json()
    assert (me["locale"], me["timezone"]) == ("ru", "Asia/Vladivostok")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"quiet_start": "07:00"}, "quiet_end", "must differ"),
        ({"quiet_start": "25:00"}, "quiet_start", "HH:MM"),
        ({"timezone": "Mars/Olympus"}, "timezone", "Unknown time zone"),
        ({"email_grades": "hourly"}, "email_grades", "Choose one"),
        ({"digest_hour": "24"}, "digest_hour", "Choose one"),
        ({"min_priority": ""}, "min_priority", "Choose one"),
        ({"locale": "de"}, "locale", "Choose one"),
    ],
)
async def test_a_wrong_field_is_named_next_to_it_and_nothing_is_saved(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    settings: Settings,
    world: World,
    login_as: Login,
    changes: dict[str, str],
    field: str,
    message: str,
) -> None:
    assert world.parent.id is not None
    token = preferences_token(settings=settings, user_id=world.parent.id)
    before = await api_preferences(client, world.parent, login_as)

    page = await site.post(
        "/preferences",
        data={"token": token, **FULL_FORM, **changes, "locale": changes.get("locale", "en")},
    )

    assert page.status_code == 422
    assert message in error_after(page.text, field), page.text
    assert "Not saved" in page.text
    assert await api_preferences(client, world.parent, login_as) == before


async def test_other_tokens_do_not_open_the_centre(
    site: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    assert world.parent.id is not None
    unsubscribe = unsubscribe_token(settings=settings, user_id=world.parent.id, topics=["grades"])
    for token in (unsubscribe, "junk", ""):
        assert (await site.get("/preferences", params={"token": token})).status_code == 400
        assert (
            await site.post("/preferences", data={"token": token, **FULL_FORM})
        ).status_code == 400
    preferences = preferences_token(settings=settings, user_id=world.parent.id)
    page = await site.get("/unsubscribe", params={"token": preferences})
    assert page.status_code == 400


async def test_an_expired_unsubscribe_link_still_shows_a_page_that_leads_to_the_centre(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    settings: Settings,
    world: World,
    login_as: Login,
) -> None:
    assert world.parent.id is not None
    fresh = unsubscribe_token(
        settings=settings,
        user_id=world.parent.id,
        topics=["grades"],
        now=utcnow() - timedelta(days=59, hours=23),
    )
    expired = unsubscribe_token(
        settings=settings,
        user_id=world.parent.id,
        topics=["grades"],
        now=utcnow() - timedelta(days=60, seconds=1),
    )
    assert (await site.get("/unsubscribe", params={"token": fresh})).status_code == 200

    page = await site.get("/unsubscribe", params={"token": expired})
    assert page.status_code == 400 and "This link has expired" in page.text
    one_click = await site.post(
        "/unsubscribe", params={"token": expired}, data={"List-Unsubscribe": "One-Click"}
    )
    assert one_click.status_code == 400
    assert (await api_preferences(client, world.parent, login_as))["email"]["grades"] == "immediate"

    sent = await site.post("/preferences/new-link", data={"token": expired})
    assert sent.status_code == 202
    [mail] = [m for m in outbox(settings) if m["To"] == world.parent.email]
    link = re.search(r"http://testserver(/preferences\?token=\S+)", text_of(mail))
    assert link, text_of(mail)
    assert (await site.get(link.group(1))).status_code == 200


async def test_an_expired_preferences_link_offers_a_new_one(
    site: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    assert world.parent.id is not None
    expired = preferences_token(
        settings=settings, user_id=world.parent.id, now=utcnow() - timedelta(days=61)
    )
    page = await site.get("/preferences", params={"token": expired})
    assert page.status_code == 400
    assert "/preferences/new-link" in page.text
