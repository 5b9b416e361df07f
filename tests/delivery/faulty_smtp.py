"""Mail servers that misbehave the ways real ones do, for the fault tests: one that never
greets, and a small SMTP server on raw asyncio that answers late, says 421, drops the
connection at the end of a message, or refuses a recipient (550). Raw asyncio rather than
aiosmtpd: a fault must happen exactly where the test says, and aiosmtpd slows down after
each connection it aborts from inside a handler."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter


class FaultySmtp:
    """An SMTP server on a free port with faults switched on per test. Only a message it
    answered 250 for counts as received; `by_recipient()` counts them per address, so a
    duplicate shows."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        # Seconds before answering the end of a message (it is kept, whoever still listens).
        self.final_reply_delay = 0.0
        # Drop the connection instead of answering the end of every this-many-th message; a
        # message sent again after its drop goes through (a flaky link, not a bad recipient).
        self.drop_every = 0
        # Drop the connection at the end of these recipients' messages, every time.
        self.drop_for: set[str] = set()
        # Answer 421 (closing) to RCPT for these recipients, once each, and close.
        self.unavailable_once: set[str] = set()
        # Answer 421 (closing) to the end of these recipients' messages, once each, and close.
        self.unavailable_at_end_once: set[str] = set()
        # Answer 550 to RCPT for these recipients.
        self.refuse: set[str] = set()
        self.received: list[tuple[str, bytes]] = []
        self.dropped: list[str] = []
        self._delivering_connections: set[int] = set()
        self._messages_seen = 0
        self._recipients_seen: set[str] = set()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def by_recipient(self) -> Counter[str]:
        return Counter(recipient for recipient, _ in self.received)

    @property
    def connections(self) -> int:
        """Connections on which at least one message reached the end of DATA."""
        return len(self._delivering_connections)

    def start(self) -> None:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", self.port), self._loop
        )
        self._server = started.result(timeout=10)

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            # Connections still open (a client that never said QUIT) end here, not mid-air.
            open_connections = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in open_connections:
                task.cancel()
            await asyncio.gather(*open_connections, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = id(writer)

        async def say(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        try:
            await say("220 faulty.example.org ESMTP")
            recipient = ""
            while line := (await reader.readline()).decode().strip():
                verb = line[:4].upper()
                if verb in ("EHLO", "HELO"):
                    await say("250 faulty.example.org")
                elif verb == "MAIL":
                    recipient = ""
                    await say("250 OK")
                elif verb == "RCPT":
                    recipient = line.partition(":")[2].strip().strip("<>").lower()
                    if recipient in self.unavailable_once:
                        self.unavailable_once.discard(recipient)
                        await say("421 4.3.2 Service shutting down, closing transmission channel")
                        return
                    if recipient in self.refuse:
                        await say("550 5.1.1 No such user here")
                        recipient = ""
                    else:
                        await say("250 OK")
                elif verb == "DATA":
                    await say("354 End data with <CR><LF>.<CR><LF>")
                    data = await reader.readuntil(b"\r\n.\r\n")
                    self._delivering_connections.add(connection)
                    if recipient in self.unavailable_at_end_once:
                        self.unavailable_at_end_once.discard(recipient)
                        await say("421 4.3.2 Service shutting down, closing transmission channel")
                        return
                    if self._drops(recipient):
                        self.dropped.append(recipient)
                        return  # gone before any reply: the message is not taken
                    if self.final_reply_delay:
                        await asyncio.sleep(self.final_reply_delay)
                    self.received.append((recipient, data))
                    await say("250 2.0.0 Message accepted")
                elif verb == "QUIT":
                    await say("221 Bye")
                    return
                else:  # RSET, NOOP
                    await say("250 OK")
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.transport.abort()

    def _drops(self, recipient: str) -> bool:
        again = recipient in self._recipients_seen
        self._recipients_seen.add(recipient)
        if not again:
            self._messages_seen += 1
        return recipient in self.drop_for or (
            not again and self.drop_every > 0 and self._messages_seen % self.drop_every == 0
        )


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
