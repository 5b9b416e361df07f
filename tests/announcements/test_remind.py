"""POST /announcements/{id}/remind: those who have not acknowledged hear again, at most
once an hour, and two calls at once send one reminder."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx

from app.announcements.models import Announcement
from app.core.security import utcnow
from tests.announcements.acks_helpers import ASKED_IN_5A, ack_announcement
from tests.announcements.helpers import Login, announce, inbox_ids
from tests.notifications.helpers import Campus


async def _heard(
    client: httpx.AsyncClient, campus: Campus, login_as: Login, announcement_id: str
) -> dict[str, int]:
    """How many notices of the announcement each person of the campus has."""
    return {
        name: (await inbox_ids(client, login_as(user))).count(announcement_id)
        for name, user in campus.people.items()
    }


async def test_a_reminder_reaches_only_those_who_have_not_acknowledged(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    announcement_id = await ack_announcement(client, campus, login_as)
    before = await _heard(client, campus, login_as, announcement_id)
    parent = login_as(campus.people["p_child"])
    assert (
        await client.post(f"/announcements/{announcement_id}/ack", headers=parent)
    ).status_code == 204

    admin = login_as(campus.people["admin"])
    response = await client.post(f"/announcements/{announcement_id}/remind", headers=admin)
    assert response.status_code == 202

    after = await _heard(client, campus, login_as, announcement_id)
    reminded = {name for name in after if after[name] > before[name]}
    assert reminded == ASKED_IN_5A - {"p_child"}
    assert all(after[name] == before[name] + 1 for name in reminded)
    inbox = await client.get(
        "/notifications", headers=login_as(campus.people["p_all"]), params={"limit": 1}
    )
    [newest] = inbox.json()["items"]
    assert newest["data"]["reminder"] is True
    assert newest["data"]["announcement_id"] == announcement_id

    # Within the hour: refused, saying when it is allowed again.
    again = await client.post(f"/announcements/{announcement_id}/remind", headers=admin)
    assert again.status_code == 429
    assert 3500 <= int(again.headers["Retry-After"]) <= 3600
    assert await _heard(client, campus, login_as, announcement_id) == after

    # An hour later the author may remind again; whoever answered meanwhile is spared.
    assert (
        await client.post(
            f"/announcements/{announcement_id}/ack", headers=login_as(campus.people["p_all"])
        )
    ).status_code == 204
    stored = await Announcement.get(announcement_id)
    assert stored is not None and stored.last_reminded_at is not None
    stored.last_reminded_at = utcnow() - timedelta(minutes=61)
    await stored.save()
    later = await client.post(f"/announcements/{announcement_id}/remind", headers=admin)
    assert later.status_code == 202
    latest = await _heard(client, campus, login_as, announcement_id)
    assert {name for name in latest if latest[name] > after[name]} == ASKED_IN_5A - {
        "p_child",
        "p_all",
    }


async def test_two_reminders_at_once_send_one(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    announcement_id = await ack_announcement(client, campus, login_as)
    before = await _heard(client, campus, login_as, announcement_id)
    admin = login_as(campus.people["admin"])
    answers = await asyncio.gather(
        *(client.post(f"/announcements/{announcement_id}/remind", headers=admin) for _ in range(2))
    )
    assert sorted(a.status_code for a in answers) == [202, 429]
    after = await _heard(client, campus, login_as, announcement_id)
    assert {name: after[name] - before[name] for name in ASKED_IN_5A} == dict.fromkeys(
        ASKED_IN_5A, 1
    )


async def test_only_the_author_and_admins_may_remind(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    announcement_id = await ack_announcement(client, campus, login_as, author="t5a")
    path = f"/announcements/{announcement_id}/remind"
    for name in ("t6b", "p_child", "s5a", "ao", "t_none"):
        refused = await client.post(path, headers=login_as(campus.people[name]))
        assert refused.status_code == 403, name
    assert (await client.post(path)).status_code == 401
    assert (await client.post(path, headers=login_as(campus.people["t5a"]))).status_code == 202
    # The admin shares the author's hour: one reminder an hour per announcement.
    assert (await client.post(path, headers=login_as(campus.people["admin"]))).status_code == 429


async def test_an_announcement_that_asks_nothing_has_nothing_to_remind(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    admin = login_as(campus.people["admin"])
    plain = await announce(client, admin, campus)
    response = await client.post(f"/announcements/{plain.json()['id']}/remind", headers=admin)
    assert response.status_code == 409
    assert "does not ask for acknowledgement" in response.json()["detail"]
    unknown = await client.post("/announcements/0123456789abcdef01234567/remind", headers=admin)
    assert unknown.status_code == 404
