"""Where emails physically go: an SMTP server (fastapi-mail's connection, aiosmtplib
underneath), or `.eml` files when no server is configured. A run keeps a few connections
open and sends many messages over each."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from types import TracebackType
from typing import Protocol

import aiosmtplib
from fastapi_mail import ConnectionConfig
from fastapi_mail.connection import Connection
from fastapi_mail.errors import ConnectionErrors
from pydantic import SecretStr

from app.core.config import Settings
from app.core.security import utcnow

log = logging.getLogger(__name__)

OUTBOX_DIR = "outbox"
SMTP_TIMEOUT_SECONDS = 15


class DeliveryError(Exception):
    """A send failed; `permanent` says whether trying again could help."""

    def __init__(self, message: str, *, permanent: bool, connection_lost: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        # The connection is unusable: the rest of the run must wait for a retry.
        self.connection_lost = connection_lost


def classify(error: BaseException) -> DeliveryError:
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [refusal.code for refusal in error.recipients]
        permanent = bool(codes) and all(500 <= code < 600 for code in codes)
        return DeliveryError(f"recipient refused: {error}", permanent=permanent)
    if isinstance(error, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPConnectError):
        return DeliveryError(f"connection: {error}", permanent=False, connection_lost=True)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return DeliveryError(
            f"SMTP {error.code}: {error.message}", permanent=500 <= error.code < 600
        )
    if isinstance(error, ConnectionErrors | OSError | TimeoutError | aiosmtplib.SMTPException):
        return DeliveryError(f"connection: {error}", permanent=False, connection_lost=True)
    return DeliveryError(f"unexpected: {error!r}", permanent=False, connection_lost=True)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message ready for the wire: the envelope and the serialised RFC 5322 text."""

    sender: str
    recipient: str
    data: bytes


class Channel(Protocol):
    """One way out that carries messages one after another (a connection, a folder)."""

    async def send(self, message: Outgoing) -> None: ...


class FileTransport:
    """Writes each message as an RFC 5322 `.eml` file; a plain sort is the sending order."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def __aenter__(self) -> FileTransport:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    def channels(self, wanted: int) -> list[Channel]:
        # Files keep their order only when written one after another.
        return [self]

    async def send(self, message: Outgoing) -> None:
        try:
            await asyncio.to_thread(write_eml, self.directory, message.data)
        except OSError as exc:
            raise classify(exc) from exc


def write_eml(directory: Path, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{utcnow():%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex}.eml"
    path = directory / name
    # Written aside and renamed, so a reader of the folder never sees half a message.
    temporary = directory / f".{name}.tmp"
    temporary.write_bytes(data)
    os.replace(temporary, path)
    return path


class SmtpConnection:
    """One SMTP connection, opened on the first send and reused for the next ones."""

    def __init__(self, config: ConnectionConfig) -> None:
        self.config = config
        self._connection: Connection | None = None

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            # The server may already have dropped us; the messages are accounted for.
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await connection.session.quit()

    async def send(self, message: Outgoing) -> None:
        try:
            if self._connection is None:
                connection = Connection(self.config)
                await connection.__aenter__()
                self._connection = connection
            await self._connection.session.sendmail(
                message.sender,
                [message.recipient],
                message.data,
                mail_options=_mail_options(message),
            )
        except Exception as exc:
            failure = classify(exc)
            if failure.connection_lost:
                self._connection = None
            raise failure from exc


def _mail_options(message: Outgoing) -> list[str]:
    # The data is ASCII (see compose); only an internationalised address needs more.
    return [] if (message.sender + message.recipient).isascii() else ["SMTPUTF8"]


class SmtpTransport:
    """Up to `settings.smtp_connections` SMTP connections, each opened when first used and
    kept for the whole run."""

    def __init__(self, settings: Settings) -> None:
        assert settings.smtp_host
        self.config = _connection_config(settings, settings.smtp_host)
        self.limit = settings.smtp_connections
        self._connections: list[SmtpConnection] = []

    async def __aenter__(self) -> SmtpTransport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await asyncio.gather(*(connection.close() for connection in self._connections))

    def channels(self, wanted: int) -> list[Channel]:
        """`wanted` connections (at most the setting allows), the open ones first."""
        wanted = max(1, min(wanted, self.limit))
        while len(self._connections) < wanted:
            self._connections.append(SmtpConnection(self.config))
        return list(self._connections[:wanted])


def make_transport(settings: Settings) -> FileTransport | SmtpTransport:
    if settings.smtp_host:
        return SmtpTransport(settings)
    return FileTransport(settings.data_dir / OUTBOX_DIR)


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
