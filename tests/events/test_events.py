"""Events over HTTP: who may create, see, change and cancel them, and what bad input says."""

from __future__ import annotations

import httpx
import pytest

from app.auth.models import Role
from tests.conftest import UserFactory, World
from tests.events.helpers import Login, at, create_event, inbox, meeting


async def test_an_admin_creates_an_event_and_its_audience_is_invited(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world, capacity=20))
    assert event["status"] == "scheduled"
    assert event["capacity"] == 20 and event["places_left"] == 20
    assert event["class_ids"] == [str(world.class_5a.id)]
    # Parent (through the child in 5A), the student and the class's teacher are told.
    for person in (world.parent, world.student, world.teacher):
        items = await inbox(client, login_as(person))
        assert [i["data"]["event_id"] for i in items] == [event["id"]]
        assert items[0]["title"] == "Invitation: Parents' meeting"
        assert items[0]["data"]["kind"] == "published"
    assert await inbox(client, login_as(world.admin)) == []


async def test_a_teacher_invites_only_their_own_classes(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    created = await client.post("/events", json=meeting(world), headers=login_as(world.teacher))
    assert created.status_code == 201, created.text

    whole_school = await client.post(
        "/events", json=meeting(world, class_ids=[]), headers=login_as(world.teacher)
    )
    assert whole_school.status_code == 403
    assert "class_ids" in whole_school.json()["detail"]

    assert world.school.id is not None
    stranger = await make_user(Role.teacher, school_ids=[world.school.id])
    foreign = await client.post("/events", json=meeting(world), headers=login_as(stranger))
    assert foreign.status_code == 403
    assert "do not teach" in foreign.json()["detail"]


@pytest.mark.parametrize("who", ["parent", "student"])
async def test_families_cannot_create_events(
    client: httpx.AsyncClient, world: World, login_as: Login, who: str
) -> None:
    response = await client.post(
        "/events", json=meeting(world), headers=login_as(getattr(world, who))
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"starts_at": at(5), "ends_at": at(4)}, "ends_at must be after starts_at"),
        ({"capacity": 0}, "capacity"),
        ({"rsvp_deadline": at(80)}, "rsvp_deadline must be at or before starts_at"),
        ({"starts_at": at(-2), "ends_at": at(-1)}, "starts_at is in the past"),
        ({"starts_at": "2026-12-01T18:00:00"}, "timezone"),
        ({"title": ""}, "title"),
        ({"class_ids": ["64b7f0f0f0f0f0f0f0f0f0f0"]}, "Unknown class ids"),
    ],
)
async def test_bad_events_are_refused_saying_what_is_wrong(
    client: httpx.AsyncClient, world: World, login_as: Login, fields: dict[str, object], says: str
) -> None:
    response = await client.post(
        "/events", json=meeting(world, **fields), headers=login_as(world.admin)
    )
    assert response.status_code == 422, response.text
    assert says in response.text


async def test_members_list_the_events_addressed_to_them_by_date(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    admin = login_as(world.admin)
    soon = await create_event(client, admin, meeting(world, starts_at=at(30), ends_at=at(31)))
    later = await create_event(client, admin, meeting(world, starts_at=at(300), ends_at=at(301)))
    teachers_only = await create_event(client, admin, meeting(world, roles=["teacher"]))

    listed = await client.get("/events", headers=login_as(world.parent))
    assert listed.status_code == 200
    assert [e["id"] for e in listed.json()["items"]] == [later["id"], soon["id"]]

    window = {"from": at(20), "to": at(100)}
    ranged = await client.get("/events", params=window, headers=login_as(world.parent))
    assert [e["id"] for e in ranged.json()["items"]] == [soon["id"]]

    paged = await client.get("/events", params={"limit": 1}, headers=login_as(world.student))
    assert [e["id"] for e in paged.json()["items"]] == [later["id"]]
    rest = await client.get(
        "/events",
        params={"limit": 1, "cursor": paged.json()["next_cursor"]},
        headers=login_as(world.student),
    )
    assert [e["id"] for e in rest.json()["items"]] == [soon["id"]]

    teacher_sees = await client.get("/events", headers=login_as(world.teacher))
    assert teachers_only["id"] in [e["id"] for e in teacher_sees.json()["items"]]

    outsider = await make_user(Role.parent)
    nothing = await client.get("/events", headers=login_as(outsider))
    assert nothing.json()["items"] == []

    backwards = await client.get(
        "/events", params={"from": at(100), "to": at(20)}, headers=login_as(world.parent)
    )
    assert backwards.status_code == 422


async def test_an_event_is_shown_to_its_audience_and_hidden_from_others(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world))
    url = f"/events/{event['id']}"
    for person in (world.parent, world.student, world.teacher, world.admin):
        assert (await client.get(url, headers=login_as(person))).status_code == 200
    outsider = await make_user(Role.parent)
    assert (await client.get(url, headers=login_as(outsider))).status_code == 404
    assert (await client.get("/events/nonsense", headers=login_as(world.admin))).status_code == 404


async def test_the_author_and_admins_change_an_event_and_families_cannot(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    event = await create_event(client, login_as(world.teacher), meeting(world))
    url = f"/events/{event['id']}"
    changed = await client.patch(url, json={"place": "Hall"}, headers=login_as(world.teacher))
    assert changed.status_code == 200, changed.text
    assert changed.json()["place"] == "Hall" and changed.json()["sequence"] == 1
    retitled = await client.patch(url, json={"title": "Meeting"}, headers=login_as(world.admin))
    assert retitled.json()["title"] == "Meeting" and retitled.json()["sequence"] == 1

    for person in (world.parent, world.student):
        refused = await client.patch(url, json={"place": "X"}, headers=login_as(person))
        assert refused.status_code == 403

    inverted = await client.patch(url, json={"ends_at": at(1)}, headers=login_as(world.admin))
    assert inverted.status_code == 422
    assert "ends_at must be after starts_at" in inverted.text
    too_small = await client.patch(url, json={"capacity": 0}, headers=login_as(world.admin))
    assert too_small.status_code == 422


async def test_delete_cancels_once(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world))
    url = f"/events/{event['id']}"
    assert (await client.delete(url, headers=login_as(world.parent))).status_code == 403
    cancelled = await client.delete(url, headers=login_as(world.admin))
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    again = await client.delete(url, headers=login_as(world.admin))
    assert again.status_code == 409
    late_change = await client.patch(url, json={"place": "X"}, headers=login_as(world.admin))
    assert late_change.status_code == 409
    shown = await client.get(url, headers=login_as(world.parent))
    assert shown.json()["status"] == "cancelled"


async def test_a_capacity_below_those_confirmed_is_refused(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world, capacity=5))
    answered = await client.put(
        f"/events/{event['id']}/rsvp",
        json={"answer": "yes", "guests": 2},
        headers=login_as(world.parent),
    )
    assert answered.status_code == 200
    refused = await client.patch(
        f"/events/{event['id']}", json={"capacity": 2}, headers=login_as(world.admin)
    )
    assert refused.status_code == 422
    assert "3 people already confirmed" in refused.json()["detail"]
