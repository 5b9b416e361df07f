"""Messages in the preferences and the digest: a reader who chose a daily digest for
messages gets no email per message, and the digest lists the conversation's notice."""

from __future__ import annotations

from datetime import timedelta

import httpx

from app.core.security import utcnow
from app.delivery.models import Email, EmailKind
from app.notifications import digests
from tests.conftest import World
from tests.messages.helpers import Login, message_emails, started, written


async def test_a_daily_digest_of_messages_replaces_the_immediate_email(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    chosen = await client.patch(
        "/users/me/preferences",
        headers=login_as(world.parent),
        json={"email": {"messages": "daily"}},
    )
    assert chosen.status_code == 200
    assert chosen.json()["email"]["messages"] == "daily"
    assert chosen.json()["email"]["grades"] == "immediate"

    conversation = await started(
        client, login_as, world.teacher, world.parent, subject="Trip", text="Bring boots"
    )
    await written(client, login_as, world.teacher, conversation["id"], "And a hat")
    assert await message_emails(world.parent) == []

    assert await digests.scan(now=utcnow() + timedelta(days=1, hours=1)) == 1
    (digest,) = await Email.find({"recipient_id": world.parent.id}).to_list()
    assert digest.kind == EmailKind.digest
    assert f"New message from {world.teacher.full_name}" in digest.text
    assert "Trip: Bring boots" in digest.text
    assert "Messages" in digest.text
