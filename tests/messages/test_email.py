"""A message notification as a Russian reader receives it from the real SMTP test server."""

from __future__ import annotations

import httpx

from app.auth.models import Locale
from tests.conftest import World
from tests.delivery import conftest as delivery
from tests.delivery.conftest import CountingSmtpServer
from tests.delivery.helpers import (
    html_of,
    only_message_to,
    text_of,
    token_of,
    unsubscribe_link,
)
from tests.messages.helpers import Login, started, written

# The delivery tests' fixtures: the app sends to a real SMTP server that counts connections.
smtp_server = delivery.smtp_server
settings = delivery.settings


async def test_a_russian_parent_receives_one_email_in_russian_for_a_burst(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    world.parent.locale = Locale.ru
    await world.parent.save()
    conversation = await started(
        client,
        login_as,
        world.teacher,
        world.parent,
        subject="Контрольная в пятницу",
        text="Маша пропустила урок,\nпусть повторит дроби.",
    )
    await written(client, login_as, world.teacher, conversation["id"], "И ещё одно.")

    message = only_message_to(smtp_server, world.parent.email)  # one for the burst
    assert len(smtp_server.envelopes) == 1
    assert str(message["Subject"]) == (
        f"Новое сообщение от {world.teacher.full_name}: Контрольная в пятницу"
    )
    text, html = text_of(message), html_of(message)
    for part in (text, html):
        assert "пусть повторит дроби" in part
        assert "Контрольная в пятницу" in part
        assert f"{world.teacher.full_name} написал(а) вам в Schoolbell" in part
        assert "School 1" in part
    assert "Тема: Контрольная в пятницу" in text
    assert "Маша пропустила урок,\nпусть повторит дроби." in text
    for english in ("New message", "Subject", "wrote to you", "You get this", "Manage"):
        assert english not in text, english
    link = unsubscribe_link(message)
    assert link in text
    unsubscribed = await client.post(
        "/unsubscribe",
        params={"token": token_of(link)},
        data={"List-Unsubscribe": "One-Click"},
    )
    assert unsubscribed.status_code == 200
    preferences = await client.get("/users/me/preferences", headers=login_as(world.parent))
    assert preferences.json()["email"]["messages"] == "off"
    assert preferences.json()["email"]["grades"] == "immediate"
