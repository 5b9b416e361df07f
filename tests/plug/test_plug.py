"""A producer the engine has never heard of plugs in with one registration.

The field trips producer lives only in this test suite (tests/plug/field_trips: its topic,
payload, templates and strings). Registered the way app/producers.py registers grades and
announcements, its notices reach the inbox, immediate email, the daily digest, the
preference centre, the preferences API and one-click unsubscribe.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from beanie import PydanticObjectId

from app.auth.models import User
from app.core.config import Settings
from app.core.security import as_utc, utcnow
from app.delivery import service as delivery
from app.notifications import digests
from app.notifications.fanout import publish
from app.notifications.links import preferences_token
from app.notifications.models import Notice, Notification, NotificationSettings
from app.notifications.topics import register_all, topics
from tests.conftest import SmtpServer, World, make_settings
from tests.digests.helpers import received, text_of
from tests.plug.field_trips.topic import NAME, SHOW_COST, TOPIC, FieldTripPayload

Login = Callable[[User], dict[str, str]]
APP = Path(__file__).parents[2] / "app"
TRIP_DAY = "2026-12-18"


@pytest.fixture
def settings(tmp_path: Path, smtp_server: SmtpServer) -> Settings:
    return make_settings(tmp_path / "data", smtp_host="127.0.0.1", smtp_port=smtp_server.port)


@pytest.fixture(autouse=True)
def field_trips() -> Iterator[None]:
    # What app/producers.py does for a real producer; taken out again so no other test
    # sees a third topic in its preferences.
    register_all([TOPIC])
    yield
    topics.unregister(NAME)


async def announce_trip(
    world: World, key: str, *recipients: User, destination: str = "the planetarium"
) -> int:
    """The field trips producer: it works out who hears, and publishes."""
    ids: list[PydanticObjectId] = [r.id for r in recipients if r.id is not None]
    notice = Notice(
        key=f"field_trip:{key}",
        topic=NAME,
        title=f"Trip to {destination}",
        body=f"Class 5A goes to {destination} on {TRIP_DAY}",
        school_id=world.school.id,
        recipients=ids,
        payload=FieldTripPayload(trip_id=key, destination=destination, date=TRIP_DAY, cost=300),
    )
    created = await publish(notice)
    await delivery.sweep()
    return created


async def preferences(client: httpx.AsyncClient, user: User, login_as: Login) -> dict[str, Any]:
    response = await client.get("/users/me/preferences", headers=login_as(user))
    assert response.status_code == 200
    return dict(response.json())


def test_no_engine_file_knows_the_producer() -> None:
    aware = [
        str(path.relative_to(APP))
        for path in APP.rglob("*")
        if path.is_file() and path.suffix in {".py", ".html", ".txt", ".json"}
        if NAME in path.read_text(encoding="utf-8")
    ]
    assert aware == []


async def test_a_new_topic_reaches_the_inbox_and_immediate_email_and_unsubscribes(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    world: World,
    login_as: Login,
    smtp_server: SmtpServer,
) -> None:
    assert await announce_trip(world, "1", world.parent, world.student) == 2

    inbox = await client.get(
        "/notifications", params={"topic": NAME}, headers=login_as(world.parent)
    )
    assert inbox.status_code == 200
    (item,) = inbox.json()["items"]
    assert item["topic"] == NAME
    assert item["title"] == "Trip to the planetarium"
    assert item["data"]["destination"] == "the planetarium"

    (message,) = received(smtp_server, world.parent)
    assert message["Subject"] == "Field trip to the planetarium"
    text = text_of(message)
    assert "Where: the planetarium" in text and "Cost: 300 roubles" in text
    assert "You get this because your class is going to the planetarium." in text
    link = re.fullmatch(r"<(.+)>", str(message["List-Unsubscribe"]))
    assert link is not None
    target = urlsplit(link.group(1))

    page = await site.get(target.path, params=target.query)
    assert page.status_code == 200 and "Field trips by email" in page.text
    done = await site.post(f"{target.path}?{target.query}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "Field trips by email" in done.text

    after = await preferences(client, world.parent, login_as)
    assert after["email"][NAME] == "off"
    assert after["email"]["grades"] == "immediate"

    await announce_trip(world, "2", world.parent, destination="the zoo")
    assert len(received(smtp_server, world.parent)) == 1
    inbox = await client.get("/notifications", headers=login_as(world.parent))
    assert [n["title"] for n in inbox.json()["items"]] == [
        "Trip to the zoo",
        "Trip to the planetarium",
    ]


async def test_the_preferences_api_and_openapi_know_the_topic_and_its_option(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    world: World,
    login_as: Login,
    smtp_server: SmtpServer,
) -> None:
    defaults = await preferences(client, world.student, login_as)
    assert defaults["email"][NAME] == "immediate"
    assert defaults["in_app"][NAME] is True
    assert defaults[SHOW_COST] is True

    headers = login_as(world.student)
    changed = await client.patch(
        "/users/me/preferences", json={"in_app": {NAME: False}, SHOW_COST: False}, headers=headers
    )
    assert changed.status_code == 200
    assert changed.json()["in_app"] == {
        "grades": True,
        "announcements": True,
        "homework": True,
        "attendance": True,
        NAME: False,
    }
    assert changed.json()[SHOW_COST] is False
    for wrong in ({"email": {"field_trip": "daily"}}, {"include_trip_costs": True}):
        refused = await client.patch("/users/me/preferences", json=wrong, headers=headers)
        assert refused.status_code == 422, wrong

    # Email without the cost, and nothing in the inbox: the student's choices.
    await announce_trip(world, "1", world.student)
    text = text_of(received(smtp_server, world.student)[0])
    assert "Where: the planetarium" in text and "Cost" not in text
    inbox = await client.get("/notifications", headers=headers)
    assert inbox.json()["items"] == []

    schema = (await site.get("/openapi.json")).json()["components"]["schemas"]
    assert NAME in schema["Preferences"]["properties"]["email"]["properties"]
    assert schema["Preferences"]["properties"][SHOW_COST]["type"] == "boolean"
    topics_field = schema["SubscriptionIn"]["properties"]["topics"]["anyOf"][0]
    assert NAME in topics_field["items"]["enum"]


async def test_a_new_topic_goes_into_the_daily_digest(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: SmtpServer
) -> None:
    response = await client.patch(
        "/users/me/preferences", json={"email": {NAME: "daily"}}, headers=login_as(world.parent)
    )
    assert response.status_code == 200
    await announce_trip(world, "1", world.parent)
    await announce_trip(world, "2", world.parent, destination="the zoo")
    assert received(smtp_server, world.parent) == []
    (waiting, _) = await Notification.find({"recipient_id": world.parent.id}).to_list()
    assert waiting.email_decision == "digest"

    stored = await NotificationSettings.get(world.parent.id)
    assert stored is not None and stored.digest_due.daily is not None
    due = max(as_utc(stored.digest_due.daily), utcnow()) + timedelta(minutes=1)
    assert await digests.scan(now=due) == 1
    await delivery.sweep()

    (digest,) = received(smtp_server, world.parent)
    text = text_of(digest)
    assert "== Field trips ==" in text
    assert "Trip to the planetarium: Class 5A goes to the planetarium" in text
    assert "Trip to the zoo" in text


async def test_the_preference_centre_shows_and_saves_the_topic(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    settings: Settings,
    world: World,
    login_as: Login,
) -> None:
    assert world.parent.id is not None
    token = preferences_token(settings=settings, user_id=world.parent.id)
    page = await site.get("/preferences", params={"token": token})
    assert page.status_code == 200
    assert "Field trips" in page.text
    assert "Show the cost of field trips in emails" in page.text
    assert f'name="email_{NAME}"' in page.text

    form = {
        "token": token,
        "email_grades": "immediate",
        "email_announcements": "immediate",
        "email_homework": "daily",
        "email_attendance": "immediate",
        f"email_{NAME}": "weekly",
        "in_app_grades": "on",
        "in_app_announcements": "on",
        "in_app_homework": "on",
        "in_app_attendance": "on",
        "include_grade_values": "on",
        "digest_hour": "18",
        "digest_weekday": "5",
        "quiet_start": "22:00",
        "quiet_end": "07:00",
        "min_priority": "low",
        "locale": "en",
        "timezone": "Europe/Moscow",
    }
    saved = await site.post("/preferences", data=form)
    assert saved.status_code == 200
    after = await preferences(client, world.parent, login_as)
    assert after["email"][NAME] == "weekly"
    assert after["in_app"][NAME] is False
    assert after[SHOW_COST] is False
    assert after["include_grade_values"] is True

    wrong = await site.post("/preferences", data={**form, f"email_{NAME}": "hourly"})
    assert wrong.status_code == 422
