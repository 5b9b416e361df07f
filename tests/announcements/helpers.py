"""Posting announcements and reading inboxes over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from app.auth.models import User
from tests.notifications.helpers import Campus

Login = Callable[[User], dict[str, str]]


async def announce(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    campus: Campus,
    *,
    key: str | None = None,
    **fields: Any,
) -> httpx.Response:
    body: dict[str, Any] = {
        "school_id": str(campus.school.id),
        "title": "Open day",
        "body": "Saturday at ten",
    }
    body.update(fields)
    if key is not None:
        headers = {**headers, "Idempotency-Key": key}
    return await client.post("/announcements", json=body, headers=headers)


async def inbox_ids(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    """The announcement ids in someone's inbox, one entry per notification."""
    response = await client.get("/notifications", params={"limit": 200}, headers=headers)
    assert response.status_code == 200, response.text
    return [
        item["data"]["announcement_id"]
        for item in response.json()["items"]
        if item["topic"] == "announcements"
    ]
