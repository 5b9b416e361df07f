"""Where emails physically go: an SMTP server (aiosmtplib), or `.eml` files when no server is
configured. A run keeps a few connections open and sends many messages over each.

Two clocks, as RFC 5321 (4.5.3.2) sets them: connecting, the greeting and each command
before the message get SMTP_TIMEOUT_SECONDS; the reply to the end of the message gets
SMTP_DATA_TIMEOUT_SECONDS (10 minutes), since by then the server holds the whole message
and giving up early leaves it unknown whether it was delivered."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol

import aiosmtplib
from aiosmtplib.typing import Default

from app.core.config import Settings
from app.core.security import utcnow

log = logging.getLogger(__name__)

OUTBOX_DIR = "outbox"


class Then(StrEnum):
    """What a failed send means for the rest of the run."""

    # The server answered and refused this message; the connection goes on.
    next = "next"
    # The connection is closed (a 421 said so): the next message opens a new one.
    reopen = "reopen"
    # The connection broke while this message was on it: a new one is opened, and this
    # message may go again on it, since no reply ever said the server took it.
    dropped = "dropped"
    # The server cannot be reached or does not answer in time: the run stops, the rest wait.
    stop = "stop"
    # The message was sent in full and no reply came within SMTP_DATA_TIMEOUT_SECONDS: it may
    # have been delivered. Not sent again before its backoff; the run stops.
    unknown = "unknown"


class DeliveryError(Exception):
    """A send failed; `permanent` says whether trying again could help, `then` what it means
    for the connection and the run."""

    def __init__(self, message: str, *, permanent: bool, then: Then = Then.next) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.then = then

    @property
    def server_away(self) -> bool:
        """The run stopped here: the rest of its emails wait for a retry."""
        return self.then in (Then.stop, Then.unknown)


class _NoFinalReply(aiosmtplib.SMTPReadTimeoutError):
    """The whole message was sent and the server did not answer within the DATA timeout."""


def classify(error: BaseException, *, server: str = "") -> DeliveryError:
    """What `error` means, in words that name the mail server (`host:port`)."""
    at = f" (mail server {server})" if server else ""
    if isinstance(error, _NoFinalReply):
        return DeliveryError(
            f"no reply: {error}{at}; it may have been delivered", permanent=False, then=Then.unknown
        )
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [refusal.code for refusal in error.recipients]
        permanent = bool(codes) and all(500 <= code < 600 for code in codes)
        said = "; ".join(f"{refusal.code} {refusal.message}" for refusal in error.recipients)
        # 421: the server closes the connection after saying so.
        then = Then.reopen if 421 in codes else Then.next
        return DeliveryError(f"recipient refused: {said}{at}", permanent=permanent, then=then)
    if isinstance(error, aiosmtplib.SMTPConnectResponseError | aiosmtplib.SMTPAuthenticationError):
        # Refused at the greeting or the login: no message of this run can go.
        return DeliveryError(
            f"connection: refused with {error.code} {error.message}{at}",
            permanent=False,
            then=Then.stop,
        )
    if isinstance(error, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return DeliveryError(f"connection: {error}{at}", permanent=False, then=Then.stop)
    if isinstance(error, aiosmtplib.SMTPConnectError):
        return DeliveryError(f"connection: {error}{at}", permanent=False, then=Then.stop)
    if isinstance(error, aiosmtplib.SMTPNotSupported):
        # An internationalised address the server cannot take: no later try can help.
        return DeliveryError(f"not supported: {error}{at}", permanent=True)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        # 421: the server closes the connection after saying so.
        then = Then.reopen if error.code == 421 else Then.next
        return DeliveryError(
            f"SMTP {error.code}: {error.message}{at}", permanent=500 <= error.code < 600, then=then
        )
    if isinstance(error, aiosmtplib.SMTPServerDisconnected | ConnectionError):
        return DeliveryError(
            f"connection: dropped while sending ({error}){at}", permanent=False, then=Then.dropped
        )
    if isinstance(error, OSError | aiosmtplib.SMTPException):
        return DeliveryError(f"connection: {error}{at}", permanent=False, then=Then.stop)
    return DeliveryError(f"unexpected: {error!r}{at}", permanent=False, then=Then.stop)


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


class _Smtp(aiosmtplib.SMTP):
    """aiosmtplib's client with the end of DATA on its own clock: every other command uses
    the client's `timeout`."""

    data_timeout: float = 600.0

    async def data(
        self,
        message: str | bytes,
        /,
        *,
        timeout: float | Literal[Default.token] | None = Default.token,  # noqa: ASYNC109 (aiosmtplib's)
    ) -> aiosmtplib.SMTPResponse:
        # aiosmtplib waits for the 354 and for the final reply on one clock, so both get the
        # DATA timeout: patient for the 354, and never short for the final reply.
        try:
            return await super().data(message, timeout=self.data_timeout)
        except aiosmtplib.SMTPTimeoutError as exc:
            raise _NoFinalReply(
                f"the end of the message got no reply within {self.data_timeout:g} s"
            ) from exc


class SmtpConnection:
    """One SMTP connection, opened on the first send, reused for the next ones, and opened
    again when the server closed it: a closed connection never costs a message an attempt."""

    def __init__(self, settings: Settings) -> None:
        assert settings.smtp_host
        self.settings = settings
        self.server = f"{settings.smtp_host}:{settings.smtp_port}"
        self._session: _Smtp | None = None

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            # The server may already have dropped us; the messages are accounted for.
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                if session.is_connected:
                    await session.quit()

    async def _open(self) -> _Smtp:
        if self._session is not None and self._session.is_connected:
            return self._session
        if self._session is not None:
            log.info("mail server %s closed the connection; opening a new one", self.server)
        self._session = None
        settings = self.settings
        session = _Smtp(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_user or None,
            password=settings.smtp_password or None,
            use_tls=settings.smtp_ssl,
            start_tls=settings.smtp_starttls,
            validate_certs=True,
            timeout=settings.smtp_timeout_seconds,
        )
        session.data_timeout = settings.smtp_data_timeout_seconds
        try:
            await session.connect()
        except Exception as exc:
            session.close()
            failure = classify(exc, server=self.server)
            # Whatever it said, no message of this run can go until the server is back.
            failure.then = Then.stop
            raise failure from exc
        self._session = session
        return session

    async def send(self, message: Outgoing) -> None:
        session = await self._open()
        try:
            await session.sendmail(
                message.sender,
                [message.recipient],
                message.data,
                mail_options=_mail_options(message),
            )
        except Exception as exc:
            failure = classify(exc, server=self.server)
            if failure.then is Then.reopen:
                # The server is closing it: the next email must not find it half open.
                session.close()
            # A closed connection stays here, so the next send opens a new one.
            raise failure from exc


def _mail_options(message: Outgoing) -> list[str]:
    # The data is ASCII (see compose); only an internationalised address needs more.
    return [] if (message.sender + message.recipient).isascii() else ["SMTPUTF8"]


class SmtpTransport:
    """Up to `settings.smtp_connections` SMTP connections, each opened when first used and
    kept for the whole run."""

    def __init__(self, settings: Settings) -> None:
        assert settings.smtp_host
        self.settings = settings
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
            self._connections.append(SmtpConnection(self.settings))
        return list(self._connections[:wanted])


def make_transport(settings: Settings) -> FileTransport | SmtpTransport:
    if settings.smtp_host:
        return SmtpTransport(settings)
    return FileTransport(settings.data_dir / OUTBOX_DIR)
