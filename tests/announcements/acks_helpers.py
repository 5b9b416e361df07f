"""Announcements that ask for acknowledgement, and reading their list over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from tests.announcements.helpers import Login, announce
from tests.notifications.helpers import Campus

# Who an announcement to class 5A asks: the parents it reaches (following the class, a
# child in it, or the school), not the linked parent who follows nothing nor the one who
# follows grades only; teachers and students are told but not asked.
ASKED_IN_5A = {"p_child", "p_class5a", "p_all", "p_ann_only", "p_school"}


async def ack_announcement(
    client: httpx.AsyncClient, campus: Campus, login_as: Login, author: str = "admin", **fields: Any
) -> str:
    """The id of a published announcement to class 5A that asks for acknowledgement."""
    body: dict[str, Any] = {"class_ids": [str(campus.class_5a.id)], "requires_ack": True}
    body.update(fields)
    response = await announce(client, login_as(campus.people[author]), campus, **body)
    assert response.status_code == 202, response.text
    assert response.json()["requires_ack"] is True
    return str(response.json()["id"])


async def acks_of(
    client: httpx.AsyncClient, headers: dict[str, str], announcement_id: str, **params: Any
) -> dict[str, Any]:
    response = await client.get(
        f"/announcements/{announcement_id}/acks", params=params, headers=headers
    )
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def whole_list(
    client: httpx.AsyncClient, campus: Campus, headers: dict[str, str], announcement_id: str
) -> tuple[set[str], set[str]]:
    """The names of those who acknowledged and of those pending, over every page."""
    acknowledged: list[str] = []
    pending: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await acks_of(client, headers, announcement_id, **params)
        acknowledged += [row["user_id"] for row in page["acknowledged"]]
        pending += [row["user_id"] for row in page["pending"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    by_id = {str(user.id): name for name, user in campus.people.items()}
    assert len(acknowledged) == len(set(acknowledged)) and len(pending) == len(set(pending))
    return {by_id[i] for i in acknowledged}, {by_id[i] for i in pending}
