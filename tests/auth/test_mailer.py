"""Email delivery: real SMTP through fastapi-mail to aiosmtpd, and .eml files without SMTP."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from app.delivery.mailer import send_email
from tests.auth.conftest import AppClient, outbox, text_of
from tests.conftest import make_settings


class Collector:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Collector, int]]:
    collector = Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield collector, port
    finally:
        controller.stop()


def parsed(envelope: Any) -> EmailMessage:
    return message_from_bytes(envelope.content, policy=policy.default)


async def test_send_email_goes_over_smtp_when_a_host_is_set(
    smtp_server: tuple[Collector, int], tmp_path: Path
) -> None:
    collector, port = smtp_server
    settings = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=port)

    await send_email(
        settings=settings,
        to="anna@example.org",
        subject="Проверка связи",
        text="Plain body, привет",
        html="<p>HTML body</p>",
    )

    [envelope] = collector.envelopes
    assert envelope.rcpt_tos == ["anna@example.org"]
    assert envelope.mail_from == "no-reply@schoolbell.local"
    message = parsed(envelope)
    assert message["Subject"] == "Проверка связи"
    assert text_of(message) == "Plain body, привет"
    html_part = message.get_body(preferencelist=("html",))
    assert html_part is not None and "HTML body" in html_part.get_content()
    # Nothing lands in the local folder when SMTP took the message.
    assert not (tmp_path / "outbox").exists()


async def test_registration_mail_reaches_the_smtp_server(
    smtp_server: tuple[Collector, int], app_client: AppClient
) -> None:
    collector, port = smtp_server
    async with app_client(smtp_host="127.0.0.1", smtp_port=port) as client:
        response = await client.post(
            "/auth/register",
            json={
                "email": "anna@example.org",
                "password": "long-enough-password",
                "full_name": "Anna",
            },
        )

    assert response.status_code == 201
    [envelope] = collector.envelopes
    assert envelope.rcpt_tos == ["anna@example.org"]
    message = parsed(envelope)
    assert message["Subject"] == "Confirm your email for Schoolbell"
    assert "http://testserver/verify-email?token=" in text_of(message)


async def test_registration_survives_an_unreachable_smtp_server(app_client: AppClient) -> None:
    async with app_client(smtp_host="127.0.0.1", smtp_port=free_port()) as client:
        response = await client.post(
            "/auth/register",
            json={
                "email": "anna@example.org",
                "password": "long-enough-password",
                "full_name": "Anna",
            },
        )

    assert response.status_code == 201


async def test_without_smtp_messages_are_sortable_eml_files(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)

    for number in range(3):
        await send_email(
            settings=settings, to=f"u{number}@example.org", subject=f"#{number}", text="t"
        )

    files = sorted((tmp_path / "outbox").iterdir())
    assert [path.suffix for path in files] == [".eml"] * 3
    messages = outbox(settings)
    assert [m["Subject"] for m in messages] == ["#0", "#1", "#2"]
    assert messages[0]["From"] == "Schoolbell <no-reply@schoolbell.local>"
    assert messages[0]["Message-ID"] and messages[0]["Date"]
    assert messages[0].get_body(preferencelist=("html",)) is None
