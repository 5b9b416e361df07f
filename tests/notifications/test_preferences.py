"""GET, PUT and PATCH /users/me/preferences: defaults, merging and validation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.auth.models import User
from app.notifications.models import NotificationSettings
from app.notifications.topics import topics
from tests.conftest import World

# Every registered topic, at its declared defaults (a producer's topic is read from the
# registry, so adding one changes no test here).
DEFAULT_EMAIL = {t.name: t.default_email.value for t in topics.all()}
DEFAULT_IN_APP = {t.name: t.default_in_app for t in topics.all()}
DEFAULTS = {
    "email": DEFAULT_EMAIL,
    "in_app": DEFAULT_IN_APP,
    "digest_hour": 18,
    "digest_weekday": 5,
    "quiet_hours": None,
    "min_priority": "low",
    "include_grade_values": True,
}

Login = Callable[[User], dict[str, str]]


async def test_new_user_gets_the_documented_defaults(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    response = await client.get("/users/me/preferences", headers=login_as(world.parent))
    assert response.status_code == 200
    assert response.json() == DEFAULTS


async def test_put_replaces_everything_and_omitted_fields_take_defaults(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    headers = login_as(world.parent)
    first = {
        "email": {**DEFAULT_EMAIL, "grades": "daily", "announcements": "off"},
        "in_app": {**DEFAULT_IN_APP, "grades": False, "announcements": True},
        "digest_hour": 7,
        "digest_weekday": 1,
        "quiet_hours": {"start": "22:00", "end": "06:30"},
        "min_priority": "high",
        "include_grade_values": False,
    }
    response = await client.put("/users/me/preferences", json=first, headers=headers)
    assert response.status_code == 200
    assert response.json() == first
    assert (await client.get("/users/me/preferences", headers=headers)).json() == first

    # A second PUT with only one field resets everything else, email topics included.
    response = await client.put(
        "/users/me/preferences", json={"email": {"grades": "weekly"}}, headers=headers
    )
    assert response.status_code == 200
    expected = {**DEFAULTS, "email": {**DEFAULT_EMAIL, "grades": "weekly"}}
    assert response.json() == expected
    assert (await client.get("/users/me/preferences", headers=headers)).json() == expected


async def test_patch_merges_topics_one_by_one(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    headers = login_as(world.parent)
    await client.patch(
        "/users/me/preferences",
        json={"email": {"announcements": "weekly"}, "digest_hour": 20},
        headers=headers,
    )
    response = await client.patch(
        "/users/me/preferences",
        json={"email": {"grades": "daily"}, "in_app": {"announcements": False}},
        headers=headers,
    )
    assert response.status_code == 200
    expected = {
        **DEFAULTS,
        "email": {**DEFAULT_EMAIL, "grades": "daily", "announcements": "weekly"},
        "in_app": {**DEFAULT_IN_APP, "announcements": False},
        "digest_hour": 20,
    }
    assert response.json() == expected
    assert (await client.get("/users/me/preferences", headers=headers)).json() == expected


async def test_patch_sets_and_clears_quiet_hours(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    headers = login_as(world.parent)
    quiet = {"start": "21:00", "end": "07:00"}
    response = await client.patch(
        "/users/me/preferences", json={"quiet_hours": quiet}, headers=headers
    )
    assert response.status_code == 200
    assert response.json()["quiet_hours"] == quiet

    # A patch about something else keeps them.
    response = await client.patch("/users/me/preferences", json={"digest_hour": 9}, headers=headers)
    assert response.json()["quiet_hours"] == quiet

    response = await client.patch(
        "/users/me/preferences", json={"quiet_hours": None}, headers=headers
    )
    assert response.status_code == 200
    assert response.json()["quiet_hours"] is None
    stored = await NotificationSettings.get(world.parent.id)
    assert stored is not None and stored.preferences.quiet_hours is None
    assert stored.preferences.digest_hour == 9


async def test_preferences_are_per_user(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    await client.patch(
        "/users/me/preferences", json={"min_priority": "high"}, headers=login_as(world.parent)
    )
    response = await client.get("/users/me/preferences", headers=login_as(world.student))
    assert response.json() == DEFAULTS


INVALID: list[tuple[str, dict[str, Any]]] = [
    ("unknown email topic", {"email": {"weather": "daily"}}),
    ("account is not a preference topic", {"email": {"account": "off"}}),
    ("unknown in-app topic", {"in_app": {"weather": True}}),
    ("unknown frequency", {"email": {"grades": "hourly"}}),
    ("frequency of the wrong type", {"email": {"grades": 1}}),
    ("in-app switch not a bool", {"in_app": {"grades": "maybe"}}),
    ("digest hour -1", {"digest_hour": -1}),
    ("digest hour 24", {"digest_hour": 24}),
    ("digest hour not a number", {"digest_hour": "six"}),
    ("digest weekday 0", {"digest_weekday": 0}),
    ("digest weekday 8", {"digest_weekday": 8}),
    ("quiet hours 25:00", {"quiet_hours": {"start": "25:00", "end": "07:00"}}),
    ("quiet hours 7pm", {"quiet_hours": {"start": "7pm", "end": "07:00"}}),
    ("quiet hours minutes 60", {"quiet_hours": {"start": "21:60", "end": "07:00"}}),
    ("quiet hours without leading zero", {"quiet_hours": {"start": "9:00", "end": "17:00"}}),
    ("quiet hours start equals end", {"quiet_hours": {"start": "07:00", "end": "07:00"}}),
    ("quiet hours missing end", {"quiet_hours": {"start": "21:00"}}),
    ("quiet hours extra field", {"quiet_hours": {"start": "21:00", "end": "07:00", "tz": "UTC"}}),
    ("quiet hours as a string", {"quiet_hours": "21:00-07:00"}),
    ("unknown priority", {"min_priority": "urgent"}),
    ("unknown top-level field", {"sms": {"grades": "immediate"}}),
    ("null digest hour", {"digest_hour": None}),
    ("null frequency", {"email": {"grades": None}}),
    ("null in-app switch", {"in_app": {"announcements": None}}),
    ("null min priority", {"min_priority": None}),
]


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize(("case", "body"), INVALID, ids=[case for case, _ in INVALID])
async def test_invalid_preferences_are_refused_and_change_nothing(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    method: str,
    case: str,
    body: dict[str, Any],
) -> None:
    headers = login_as(world.parent)
    response = await client.request(method, "/users/me/preferences", json=body, headers=headers)
    assert response.status_code == 422, case
    assert (await client.get("/users/me/preferences", headers=headers)).json() == DEFAULTS


@pytest.mark.parametrize("method", ["get", "put", "patch"])
async def test_preferences_need_a_login(client: httpx.AsyncClient, method: str) -> None:
    kwargs: dict[str, Any] = {} if method == "get" else {"json": {}}
    response = await client.request(method, "/users/me/preferences", **kwargs)
    assert response.status_code == 401
