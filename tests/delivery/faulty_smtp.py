"""Mail servers that misbehave the ways real ones do, for the fault tests: one that never
greets, and an aiosmtpd server that answers late, says 421, drops the connection at the end
of a message, or refuses a recipient (550)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from typing import Any

from tests.conftest import SmtpServer


class FaultySmtp(SmtpServer):
    """aiosmtpd with faults switched on per test. Only a message it answered 250 for counts as
    received (`envelopes`); `by_recipient()` counts them per address, so a duplicate shows."""

    def __init__(self) -> None:
        super().__init__()
        # Seconds before answering the end of a message (it is kept, whoever still listens).
        self.final_reply_delay = 0.0
        # Drop the connection instead of answering the end of every this-many-th message.
        self.drop_every = 0
        # Drop the connection at the end of these recipients' messages, every time.
        self.drop_for: set[str] = set()
        # Answer 421 (closing) to RCPT for these recipients, once each.
        self.unavailable_once: set[str] = set()
        self.dropped: list[str] = []
        self.sessions: set[int] = set()
        self._messages_seen = 0
        self._lock = threading.Lock()

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.unavailable_once:
            self.unavailable_once.discard(address.lower())
            return "421 4.3.2 Service shutting down, closing transmission channel"
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.sessions.add(id(session))
        recipient = envelope.rcpt_tos[0].lower()
        with self._lock:
            self._messages_seen += 1
            drop = recipient in self.drop_for or (
                self.drop_every > 0 and self._messages_seen % self.drop_every == 0
            )
        if drop:
            self.dropped.append(recipient)
            # Gone before any reply: the message is not taken.
            server.transport.abort()
            return "451 4.3.0 never read: the connection is closed"
        if self.final_reply_delay:
            await asyncio.sleep(self.final_reply_delay)
        return await super().handle_DATA(server, session, envelope)

    def by_recipient(self) -> Counter[str]:
        return Counter(r.lower() for e in self.envelopes for r in e.rcpt_tos)

    @property
    def connections(self) -> int:
        """Connections on which at least one message reached the end of DATA."""
        return len(self.sessions)


class SilentServer:
    """Accepts TCP connections and never says a word: a mail server with no greeting."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = int(self._listener.getsockname()[1])
        self._held: list[socket.socket] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._held.append(connection)

    @property
    def connections(self) -> int:
        return len(self._held)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()
        for connection in self._held:
            connection.close()
        self._listener.close()
