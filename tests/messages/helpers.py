"""Small builders shared by the message tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from app.auth.models import User
from app.delivery.models import Email
from app.notifications.models import Notification

Login = Callable[[User], dict[str, str]]


async def started(
    client: httpx.AsyncClient,
    login_as: Login,
    writer: User,
    reader: User,
    *,
    subject: str = "Homework in maths",
    text: str = "Could you tell me what Masha missed on Monday?",
) -> dict[str, Any]:
    """A conversation the writer opened with the reader; fails the test unless it was made."""
    answer = await client.post(
        "/conversations",
        headers=login_as(writer),
        json={"participant_id": str(reader.id), "subject": subject, "text": text},
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def written(
    client: httpx.AsyncClient, login_as: Login, writer: User, conversation_id: str, text: str
) -> dict[str, Any]:
    answer = await client.post(
        f"/conversations/{conversation_id}/messages",
        headers=login_as(writer),
        json={"text": text},
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def message_notices(user: User) -> list[Notification]:
    return await Notification.find({"recipient_id": user.id, "topic": "messages"}).to_list()


async def message_emails(user: User) -> list[Email]:
    return await Email.find(
        {"recipient_id": user.id, "idempotency_key": {"$regex": "^notification:message:"}}
    ).to_list()
