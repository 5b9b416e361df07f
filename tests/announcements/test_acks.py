"""Acknowledgements over HTTP: asking for them, answering, the list, and who may do what."""

from __future__ import annotations

import asyncio

import httpx

from app.announcements.models import Acknowledgement
from tests.announcements.acks_helpers import ASKED_IN_5A, ack_announcement, acks_of, whole_list
from tests.announcements.helpers import Login, announce
from tests.notifications.helpers import Campus


async def test_asked_parents_acknowledge_once_and_the_author_sees_who_has_not(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    announcement_id = await ack_announcement(client, campus, login_as)
    admin = login_as(campus.people["admin"])
    assert await whole_list(client, campus, admin, announcement_id) == (set(), ASKED_IN_5A)

    parent = login_as(campus.people["p_child"])
    answer = await client.post(f"/announcements/{announcement_id}/ack", headers=parent)
    assert answer.status_code == 204
    first = await acks_of(client, admin, announcement_id)
    [mine] = first["acknowledged"]
    assert mine["user_id"] == str(campus.id("p_child"))
    assert mine["full_name"] == campus.people["p_child"].full_name

    # Again: still 204, and the time is the first one's.
    again = await client.post(f"/announcements/{announcement_id}/ack", headers=parent)
    assert again.status_code == 204
    assert (await acks_of(client, admin, announcement_id))["acknowledged"] == [mine]

    pending = ASKED_IN_5A - {"p_child"}
    assert await whole_list(client, campus, admin, announcement_id) == ({"p_child"}, pending)

    figures = await client.get(f"/announcements/{announcement_id}", headers=admin)
    stats = figures.json()["stats"]
    assert (stats["acknowledged"], stats["pending"]) == (1, len(pending))


async def test_a_double_click_makes_one_acknowledgement(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    announcement_id = await ack_announcement(client, campus, login_as)
    parent = login_as(campus.people["p_all"])
    answers = await asyncio.gather(
        *(client.post(f"/announcements/{announcement_id}/ack", headers=parent) for _ in range(8))
    )
    assert [a.status_code for a in answers] == [204] * 8
    rows = await Acknowledgement.find(
        {"user_id": campus.id("p_all"), "acknowledged_at": {"$ne": None}}
    ).to_list()
    assert len(rows) == 1
    page = await acks_of(client, login_as(campus.people["admin"]), announcement_id)
    assert [row["user_id"] for row in page["acknowledged"]] == [str(campus.id("p_all"))]


async def test_for_a_student_audience_the_students_acknowledge(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    announcement_id = await ack_announcement(client, campus, login_as, roles=["student"])
    admin = login_as(campus.people["admin"])
    assert await whole_list(client, campus, admin, announcement_id) == (set(), {"s5a", "s5a2"})
    student = login_as(campus.people["s5a"])
    assert (
        await client.post(f"/announcements/{announcement_id}/ack", headers=student)
    ).status_code == 204
    parent = login_as(campus.people["p_child"])
    refused = await client.post(f"/announcements/{announcement_id}/ack", headers=parent)
    assert refused.status_code == 403
    assert await whole_list(client, campus, admin, announcement_id) == ({"s5a"}, {"s5a2"})


async def test_only_those_asked_may_acknowledge(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    announcement_id = await ack_announcement(client, campus, login_as)
    path = f"/announcements/{announcement_id}/ack"
    # Told but not asked (a teacher, a student of a parents' notice), linked to a child of
    # the class but following nothing, from another school, the author herself.
    for name in ("t5a", "s5a", "p_unsub", "p_foreign", "admin", "t6b", "so"):
        answer = await client.post(path, headers=login_as(campus.people[name]))
        assert answer.status_code == 403, (name, answer.text)
        assert answer.json()["detail"]
    assert (await client.post(path)).status_code == 401
    unknown = await client.post(
        "/announcements/0123456789abcdef01234567/ack", headers=login_as(campus.people["p_child"])
    )
    assert unknown.status_code == 404
    malformed = await client.post(
        "/announcements/nope/ack", headers=login_as(campus.people["p_child"])
    )
    assert malformed.status_code == 404
    page = await acks_of(client, login_as(campus.people["admin"]), announcement_id)
    assert page["acknowledged"] == []


async def test_an_announcement_that_asks_nothing_says_so(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    admin = login_as(campus.people["admin"])
    plain = await announce(client, admin, campus, class_ids=[str(campus.class_5a.id)])
    announcement_id = plain.json()["id"]
    assert plain.json()["requires_ack"] is False
    answer = await client.post(
        f"/announcements/{announcement_id}/ack", headers=login_as(campus.people["p_child"])
    )
    assert answer.status_code == 409
    assert "does not ask for acknowledgement" in answer.json()["detail"]
    listing = await client.get(f"/announcements/{announcement_id}/acks", headers=admin)
    assert listing.status_code == 409
    stats = (await client.get(f"/announcements/{announcement_id}", headers=admin)).json()["stats"]
    assert "acknowledged" not in stats and "pending" not in stats


async def test_a_scheduled_announcement_cannot_be_acknowledged_yet(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    response = await announce(
        client,
        login_as(campus.people["admin"]),
        campus,
        class_ids=[str(campus.class_5a.id)],
        requires_ack=True,
        publish_at="2099-01-01T09:00:00+03:00",
    )
    assert response.status_code == 202
    answer = await client.post(
        f"/announcements/{response.json()['id']}/ack", headers=login_as(campus.people["p_child"])
    )
    assert answer.status_code == 409
    assert "scheduled" in answer.json()["detail"]


async def test_requires_ack_needs_someone_to_ask(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    admin = login_as(campus.people["admin"])
    response = await announce(client, admin, campus, roles=["teacher"], requires_ack=True)
    assert response.status_code == 422
    assert "requires_ack needs parents or students" in response.text
    wrong_type = await announce(client, admin, campus, requires_ack="maybe")
    assert wrong_type.status_code == 422


async def test_only_the_author_and_admins_see_the_list(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    announcement_id = await ack_announcement(client, campus, login_as, author="t5a")
    path = f"/announcements/{announcement_id}/acks"
    for name in ("t6b", "p_child", "s5a", "ao", "t_none"):
        refused = await client.get(path, headers=login_as(campus.people[name]))
        assert refused.status_code == 403, name
    assert (await client.get(path)).status_code == 401
    for allowed in ("t5a", "admin"):
        assert (await client.get(path, headers=login_as(campus.people[allowed]))).status_code == 200
    admin = login_as(campus.people["admin"])
    bad_cursor = await client.get(path, params={"cursor": "not-a-cursor"}, headers=admin)
    assert bad_cursor.status_code == 422
    too_many = await client.get(path, params={"limit": 201}, headers=admin)
    assert too_many.status_code == 422
