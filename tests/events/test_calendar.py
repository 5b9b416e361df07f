"""Each person's calendar feed: signed, revocable, parsed back with icalendar; an event keeps
its UID, raises its SEQUENCE on change and shows STATUS:CANCELLED when cancelled."""

from __future__ import annotations

from typing import Any

import httpx
from icalendar import Calendar

from app.auth.models import Role
from tests.conftest import UserFactory, World
from tests.events.helpers import Login, create_event, meeting


async def feed_entries(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    path = url.removeprefix("http://testserver/api/v1")
    response = await client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    return {str(entry["UID"]): entry for entry in calendar.walk("VEVENT")}


async def test_a_parents_feed_follows_the_event_through_change_and_cancellation(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world))
    mine = await client.get("/users/me/calendar", headers=login_as(world.parent))
    assert mine.status_code == 200
    url = mine.json()["url"]
    assert url.startswith("http://testserver/api/v1/calendar/") and url.endswith(".ics")
    uid = f"{event['id']}@events.schoolbell"

    entries = await feed_entries(client, url)
    assert list(entries) == [uid]
    assert str(entries[uid]["SUMMARY"]) == "Parents' meeting"
    assert str(entries[uid]["LOCATION"]) == "Room 12"
    assert entries[uid]["SEQUENCE"] == 0
    assert str(entries[uid]["STATUS"]) == "CONFIRMED"

    await client.patch(
        f"/events/{event['id']}", json={"place": "Hall"}, headers=login_as(world.admin)
    )
    entries = await feed_entries(client, url)
    assert list(entries) == [uid]
    assert str(entries[uid]["LOCATION"]) == "Hall" and entries[uid]["SEQUENCE"] == 1

    await client.delete(f"/events/{event['id']}", headers=login_as(world.admin))
    entries = await feed_entries(client, url)
    assert str(entries[uid]["STATUS"]) == "CANCELLED" and entries[uid]["SEQUENCE"] == 2


async def test_a_new_link_revokes_the_old_one(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    first = (await client.get("/users/me/calendar", headers=login_as(world.student))).json()["url"]
    again = (await client.get("/users/me/calendar", headers=login_as(world.student))).json()["url"]
    assert again == first
    renewed = await client.post("/users/me/calendar", headers=login_as(world.student))
    assert renewed.status_code == 200
    second = renewed.json()["url"]
    assert second != first
    assert (await client.get(first.removeprefix("http://testserver/api/v1"))).status_code == 404
    await feed_entries(client, second)


async def test_feeds_show_only_what_their_owner_may_see(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    await create_event(client, login_as(world.admin), meeting(world))
    stranger = await make_user(Role.parent)
    url = (await client.get("/users/me/calendar", headers=login_as(stranger))).json()["url"]
    assert await feed_entries(client, url) == {}
    assert (await client.get("/calendar/not-a-token.ics")).status_code == 404
    assert (await client.get("/users/me/calendar")).status_code == 401
    assert (await client.post("/users/me/calendar")).status_code == 401
