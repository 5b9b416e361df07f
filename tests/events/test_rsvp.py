"""Answering events over HTTP: capacity held atomically, the waitlist and its promotion,
the deadline, the audience, and the answers list with its totals and exports."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta

import httpx
import pytest
from beanie import PydanticObjectId
from openpyxl import load_workbook

from app.auth.models import Locale, Role, User
from app.core.security import utcnow
from app.events.models import Event, Rsvp
from tests.conftest import UserFactory, World
from tests.events.helpers import (
    Login,
    YieldingCollection,
    answer,
    at,
    create_event,
    family,
    inbox,
    meeting,
)


async def families(
    world: World, make_user: UserFactory, count: int, **fields: object
) -> list[User]:
    """`count` parents, each linked to the world's student in 5A."""
    return [await family(world, make_user, **fields) for _ in range(count)]


async def test_a_parent_answers_for_the_family_and_may_change_it(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world, capacity=20))
    first = await answer(
        client,
        event["id"],
        login_as(world.parent),
        answer="yes",
        guests=2,
        comment="With grandma",
        student_ids=[str(world.student.id)],
    )
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "confirmed"
    assert first.json()["student_ids"] == [str(world.student.id)]
    shown = await client.get(f"/events/{event['id']}", headers=login_as(world.parent))
    assert shown.json()["places_left"] == 17

    changed = await answer(client, event["id"], login_as(world.parent), answer="no")
    assert changed.json()["answer"] == "no"
    shown = await client.get(f"/events/{event['id']}", headers=login_as(world.parent))
    assert shown.json()["places_left"] == 20
    assert await Rsvp.find({"event_id": PydanticObjectId(event["id"])}).count() == 1


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"answer": "yes", "guests": 11}, "guests"),
        ({"answer": "yes", "guests": -1}, "guests"),
        ({"answer": "perhaps"}, "answer"),
        ({"answer": "yes", "student_ids": ["64b7f0f0f0f0f0f0f0f0f0f0"]}, "not your children"),
        ({"answer": "yes", "comment": "a\u202eb"}, "comment"),
    ],
)
async def test_bad_answers_are_refused_saying_what_is_wrong(
    client: httpx.AsyncClient, world: World, login_as: Login, body: dict[str, object], says: str
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world))
    response = await answer(client, event["id"], login_as(world.parent), **body)
    assert response.status_code == 422, response.text
    assert says in response.text


async def test_a_student_names_no_children(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world))
    response = await answer(
        client,
        event["id"],
        login_as(world.student),
        answer="yes",
        student_ids=[str(world.student.id)],
    )
    assert response.status_code == 422
    assert "only a parent" in response.json()["detail"]


async def test_only_the_audience_may_answer(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world, roles=["parent"]))
    assert (
        await answer(client, event["id"], login_as(world.parent), answer="yes")
    ).status_code == 200
    # The class's student is not among the roles; the admin manages but is not invited.
    for person in (world.student, world.admin):
        refused = await answer(client, event["id"], login_as(person), answer="yes")
        assert refused.status_code == 403, refused.text
    stranger = await make_user(Role.parent)
    assert (await answer(client, event["id"], login_as(stranger), answer="yes")).status_code == 404


async def test_answers_close_at_the_deadline_and_on_cancellation(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world, rsvp_deadline=at(1)))
    await Event.find_one(Event.id == PydanticObjectId(event["id"])).update(
        {"$set": {"rsvp_deadline": utcnow() - timedelta(minutes=1)}}
    )
    late = await answer(client, event["id"], login_as(world.parent), answer="yes")
    assert late.status_code == 409
    assert "deadline" in late.json()["detail"]

    other = await create_event(client, login_as(world.admin), meeting(world))
    await client.delete(f"/events/{other['id']}", headers=login_as(world.admin))
    cancelled = await answer(client, other["id"], login_as(world.parent), answer="yes")
    assert cancelled.status_code == 409
    assert "cancelled" in cancelled.json()["detail"]


async def test_two_families_racing_for_the_last_place_one_is_waitlisted(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world, capacity=2))
    one, two = await families(world, make_user, 2)
    # Both requests reach the place-taking update together, each having seen a free place.
    racing = YieldingCollection(Event.get_motor_collection(), meet=2)
    monkeypatch.setattr(Event, "get_motor_collection", classmethod(lambda cls: racing))
    responses = await asyncio.gather(
        answer(client, event["id"], login_as(one), answer="yes", guests=1),
        answer(client, event["id"], login_as(two), answer="yes", guests=1),
    )
    monkeypatch.undo()
    assert len(racing.arrived) == 2
    assert sorted(r.json()["status"] for r in responses) == ["confirmed", "waitlisted"]
    stored = await Event.get(PydanticObjectId(event["id"]))
    assert stored is not None and stored.confirmed_people == 2


async def test_two_hundred_families_at_once_for_twenty_places(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world, capacity=20))
    parents = await families(world, make_user, 200)
    for model in (Event, Rsvp):
        interleaving = YieldingCollection(model.get_motor_collection())
        monkeypatch.setattr(
            model, "get_motor_collection", classmethod(lambda cls, c=interleaving: c)
        )
    responses = await asyncio.gather(
        *(answer(client, event["id"], login_as(p), answer="yes") for p in parents)
    )
    monkeypatch.undo()
    assert {r.status_code for r in responses} == {200}
    statuses = [r.json()["status"] for r in responses]
    assert statuses.count("confirmed") == 20
    assert statuses.count("waitlisted") == 180
    listed = await client.get(f"/events/{event['id']}/rsvps", headers=login_as(world.admin))
    assert listed.json()["totals"] == {
        "yes": 20,
        "no": 0,
        "maybe": 0,
        "waitlisted": 180,
        "people": 20,
    }


async def test_a_freed_place_goes_to_the_first_on_the_waitlist_who_is_told(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world, capacity=2))
    first, second, third = await families(world, make_user, 3)
    assert (await answer(client, event["id"], login_as(first), answer="yes", guests=1)).json()[
        "status"
    ] == "confirmed"
    for waiting in (second, third):
        response = await answer(client, event["id"], login_as(waiting), answer="yes")
        assert response.json()["status"] == "waitlisted"

    await answer(client, event["id"], login_as(first), answer="no")

    listed = await client.get(f"/events/{event['id']}/rsvps", headers=login_as(world.admin))
    by_user = {i["user_id"]: i["status"] for i in listed.json()["items"]}
    assert by_user[str(second.id)] == "confirmed"
    assert by_user[str(third.id)] == "confirmed"  # two places freed: both fit, in order
    told = [i for i in await inbox(client, login_as(second)) if i["data"]["kind"] == "promoted"]
    assert [i["title"] for i in told] == ["A place is yours: Parents' meeting"]
    assert [
        i for i in await inbox(client, login_as(first)) if i["data"]["kind"] == "promoted"
    ] == []


async def test_a_larger_capacity_lets_the_waitlist_in(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world, capacity=1))
    first, second = await families(world, make_user, 2)
    await answer(client, event["id"], login_as(first), answer="yes")
    assert (await answer(client, event["id"], login_as(second), answer="yes")).json()[
        "status"
    ] == "waitlisted"
    await client.patch(
        f"/events/{event['id']}", json={"capacity": 2}, headers=login_as(world.admin)
    )
    mine = await client.get(f"/events/{event['id']}/rsvps", headers=login_as(world.admin))
    assert {i["status"] for i in mine.json()["items"]} == {"confirmed"}


async def test_the_answers_list_with_totals_is_for_the_author_and_admins(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    event = await create_event(client, login_as(world.teacher), meeting(world, capacity=3))
    yes, maybe, no, late = await families(world, make_user, 4)
    await answer(client, event["id"], login_as(yes), answer="yes", guests=1, comment="Two of us")
    await answer(client, event["id"], login_as(maybe), answer="maybe")
    await answer(client, event["id"], login_as(no), answer="no")
    await answer(client, event["id"], login_as(late), answer="yes", guests=1)
    url = f"/events/{event['id']}/rsvps"
    for manager in (world.teacher, world.admin):
        listed = await client.get(url, headers=login_as(manager))
        assert listed.status_code == 200
        body = listed.json()
        assert body["totals"] == {"yes": 1, "no": 1, "maybe": 1, "waitlisted": 1, "people": 2}
        first = body["items"][0]
        assert set(first) == {
            "user_id",
            "full_name",
            "answer",
            "status",
            "guests",
            "comment",
            "student_ids",
            "updated_at",
        }
        assert {i["full_name"] for i in body["items"]} == {
            p.full_name for p in (yes, maybe, no, late)
        }
    page = await client.get(url, params={"limit": 3}, headers=login_as(world.admin))
    assert len(page.json()["items"]) == 3 and page.json()["next_cursor"]
    for person in (world.parent, world.student, yes):
        assert (await client.get(url, headers=login_as(person))).status_code in (403, 404)


async def test_exports_keep_names_and_cyrillic_in_the_readers_language(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world, capacity=1))
    olga = (await families(world, make_user, 1, full_name="Ольга Смирнова"))[0]
    ivan = (await families(world, make_user, 1, full_name="Иван Петров"))[0]
    await answer(
        client,
        event["id"],
        login_as(olga),
        answer="yes",
        comment="Придём вовремя",
        student_ids=[str(world.student.id)],
    )
    await answer(client, event["id"], login_as(ivan), answer="yes")
    reader = await make_user(
        Role.admin, school_ids=[world.school.id], locale=Locale.ru, timezone="Europe/Moscow"
    )

    csv_file = await client.get(f"/events/{event['id']}/rsvps.csv", headers=login_as(reader))
    assert csv_file.status_code == 200
    assert csv_file.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(csv_file.content.decode("utf-8-sig"))))
    assert rows[0] == ["Имя", "Класс", "Дети", "Ответ", "Статус", "Гости", "Комментарий", "Время"]
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["Ольга Смирнова"][1:7] == [
        "5A",
        world.student.full_name,
        "да",
        "подтверждено",
        "0",
        "Придём вовремя",
    ]
    assert by_name["Иван Петров"][4] == "лист ожидания"

    xlsx = await client.get(f"/events/{event['id']}/rsvps.xlsx", headers=login_as(world.admin))
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][:5] == ["Name", "Class", "Children", "Answer", "Status"]
    assert {"Ольга Смирнова", "Иван Петров"} <= {row[0] for row in values[1:]}
    assert "waitlisted" in {row[4] for row in values[1:]}

    refused = await client.get(f"/events/{event['id']}/rsvps.xlsx", headers=login_as(world.parent))
    assert refused.status_code == 403
