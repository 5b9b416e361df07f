"""Send one email now: over SMTP with fastapi-mail when SMTP_HOST is set, else to a file.

Without an SMTP server (`schoolbell dev`, tests) each message is written as an RFC 5322
`.eml` file under `<data_dir>/outbox/`, named so that a plain sort is the sending order.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path

from fastapi_mail import ConnectionConfig, FastMail, MessageSchema, MessageType
from fastapi_mail.schemas import MultipartSubtypeEnum
from pydantic import SecretStr

from app.core.config import Settings
from app.core.security import utcnow

log = logging.getLogger(__name__)

OUTBOX_DIR = "outbox"
SMTP_TIMEOUT_SECONDS = 15


async def send_email(
    *, settings: Settings, to: str, subject: str, text: str, html: str | None = None
) -> None:
    """Deliver one message; raises when the SMTP server or the disk refuses it."""
    if settings.smtp_host:
        await _send_smtp(
            settings=settings, host=settings.smtp_host, to=to, subject=subject, text=text, html=html
        )
    else:
        message = build_message(settings=settings, to=to, subject=subject, text=text, html=html)
        path = await asyncio.to_thread(_write_eml, settings.data_dir / OUTBOX_DIR, message)
        log.info("email to %s written to %s", to, path)


def build_message(
    *, settings: Settings, to: str, subject: str, text: str, html: str | None = None
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=_sender_domain(settings))
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def _write_eml(directory: Path, message: EmailMessage) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{utcnow():%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex}.eml"
    path = directory / name
    # Written aside and renamed, so a reader of the folder never sees half a message.
    temporary = directory / f".{name}.tmp"
    temporary.write_bytes(bytes(message))
    os.replace(temporary, path)
    return path


def _sender_domain(settings: Settings) -> str:
    _name, address = parseaddr(settings.mail_from)
    return address.rpartition("@")[2] or "schoolbell.local"


def _connection_config(settings: Settings, host: str) -> ConnectionConfig:
    from_name, from_address = parseaddr(settings.mail_from)
    # model_construct: EmailStr refuses reserved domains such as `.local`, which mail
    # catchers and internal relays accept; and a BaseSettings subclass would also read
    # stray MAIL_* variables from the environment.
    return ConnectionConfig.model_construct(
        MAIL_USERNAME=settings.smtp_user or "",
        MAIL_PASSWORD=SecretStr(settings.smtp_password or ""),
        MAIL_SERVER=host,
        MAIL_PORT=settings.smtp_port,
        MAIL_STARTTLS=settings.smtp_starttls,
        MAIL_SSL_TLS=settings.smtp_ssl,
        MAIL_FROM=from_address,
        MAIL_FROM_NAME=from_name or None,
        USE_CREDENTIALS=bool(settings.smtp_user),
        VALIDATE_CERTS=True,
        TIMEOUT=SMTP_TIMEOUT_SECONDS,
    )


async def _send_smtp(
    *, settings: Settings, host: str, to: str, subject: str, text: str, html: str | None
) -> None:
    # model_construct for the same reason as the connection: the address was validated
    # when the account was made, and the SMTP server is the judge of deliverability.
    message = MessageSchema.model_construct(
        recipients=[to],  # type: ignore[list-item]
        subject=subject,
        body=text,
        subtype=MessageType.plain,
        alternative_body=html,
        multipart_subtype=(
            MultipartSubtypeEnum.alternative if html is not None else MultipartSubtypeEnum.mixed
        ),
    )
    await FastMail(_connection_config(settings, host)).send_message(message)
