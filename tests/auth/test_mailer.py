"""Account email through the outbox: real SMTP (aiosmtpd) with a host set, .eml files without."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from tests.auth.conftest import AppClient, outbox, text_of
from tests.conftest import SmtpServer, make_settings

REGISTRATION = {
    "email": "anna@example.org",
    "password": "long-enough-password",
    "full_name": "Anna",
}


async def test_registration_mail_reaches_the_smtp_server(
    smtp_server: SmtpServer, app_client: AppClient
) -> None:
    async with app_client(smtp_host="127.0.0.1", smtp_port=smtp_server.port) as client:
        response = await client.post("/auth/register", json=REGISTRATION)

    assert response.status_code == 201
    [envelope] = smtp_server.envelopes
    assert envelope.rcpt_tos == ["anna@example.org"]
    assert envelope.mail_from == "no-reply@schoolbell.local"
    [message] = smtp_server.messages
    assert message["Subject"] == "Confirm your email for Schoolbell"
    assert "http://testserver/verify-email?token=" in text_of(message)
    html_part = message.get_body(preferencelist=("html",))
    assert html_part is not None and "verify-email?token=" in html_part.get_content()
    # Account mail is not a list: no unsubscribe headers.
    assert message["List-Unsubscribe"] is None


async def test_russian_accounts_get_russian_mail(
    smtp_server: SmtpServer, app_client: AppClient
) -> None:
    async with app_client(smtp_host="127.0.0.1", smtp_port=smtp_server.port) as client:
        response = await client.post("/auth/register", json={**REGISTRATION, "locale": "ru"})

    assert response.status_code == 201
    [message] = smtp_server.messages
    assert message["Subject"] == "Подтвердите адрес электронной почты в Schoolbell"
    # Russian throughout; the name is not repeated to an address nobody has verified yet.
    assert text_of(message).startswith("Здравствуйте!\n")
    assert "Anna" not in text_of(message)


async def test_without_smtp_messages_are_sortable_eml_files(
    app_client: AppClient, tmp_path: Path
) -> None:
    async with app_client() as client:
        for number in range(3):
            response = await client.post(
                "/auth/register", json={**REGISTRATION, "email": f"u{number}@example.org"}
            )
            assert response.status_code == 201

    # app_client keeps its data in tmp_path / "data", where the outbox folder lives.
    messages: list[EmailMessage] = outbox(make_settings(tmp_path / "data"))
    assert [m["To"] for m in messages] == [f"u{n}@example.org" for n in range(3)]
    assert messages[0]["From"] == "Schoolbell <no-reply@schoolbell.local>"
    assert messages[0]["Message-ID"] and messages[0]["Date"]
    assert messages[0].get_body(preferencelist=("html",)) is not None
