"""Sending a claimed batch: leave from the provider's quota, a few connections at once, and
what a mail server's faults mean for the rest of the batch.

A refusal settles one email and the connection goes on; a closed connection is opened again
for the next email without costing it an attempt; an email whose connection broke under it
goes once more on a new one (no reply ever said the server took it); a server that cannot be
reached, or that holds the end of a message past SMTP_DATA_TIMEOUT_SECONDS, stops the batch,
and its other emails wait for the retry the backoff schedules."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.core.config import Settings
from app.core.errors import StorageUnavailable
from app.core.security import utcnow
from app.delivery.message import MessageBuilder
from app.delivery.models import Email
from app.delivery.stopping import sending_stopped
from app.delivery.transport import (
    Channel,
    DeliveryError,
    FileTransport,
    Outgoing,
    SmtpTransport,
    Then,
)

log = logging.getLogger(__name__)

# While the database refuses writes (dev's data folder full), the verdicts of emails already
# sent wait in memory and are written once it takes them: tried this often, for at most
# this long (well inside the lease, so nobody else sends them meanwhile).
VERDICT_RETRY_SECONDS = 1.0
VERDICT_WAIT_SECONDS = 120.0

# A batch gets one more connection for every this many emails (up to SMTP_CONNECTIONS): a
# few emails go over one connection, a broadcast over several at once.
EMAILS_PER_CONNECTION = 25

# What became of one claimed email: None when the server took it.
Outcome = DeliveryError | None


@dataclass
class SendReport:
    """What a send job did: emails the server took, emails left for a later try (failed with a
    retry scheduled, or handed back untried), and emails that will never go (dead)."""

    delivered: int = 0
    deferred: int = 0
    lost: int = 0

    def __iadd__(self, other: SendReport) -> SendReport:
        self.delivered += other.delivered
        self.deferred += other.deferred
        self.lost += other.lost
        return self

    @property
    def outcome(self) -> str:
        """The job's outcome in its log line and metrics: a run that left mail behind did
        not simply succeed."""
        if not self.deferred and not self.lost:
            return "succeeded"
        return "partial" if self.delivered else "undelivered"

    def figures(self) -> dict[str, int]:
        return {"delivered": self.delivered, "deferred": self.deferred, "lost": self.lost}


# Writes the verdicts of some claimed emails (those in `resent` were tried twice) and says
# how they count.
Recorder = Callable[
    [Sequence[Email], dict[Any, Outcome], set[Any], datetime], Awaitable[SendReport]
]


_limiters: dict[str, MovingWindowRateLimiter] = {}
MEMORY = "memory://"
RATE_KEY = ("schoolbell", "email")


def _rate_limiter(uri: str) -> MovingWindowRateLimiter:
    if uri not in _limiters:
        _limiters[uri] = MovingWindowRateLimiter(storage_from_string(uri))
    return _limiters[uri]


def _take_slots(uri: str, item: RateLimitItem, wanted: int) -> tuple[int, float]:
    """Up to `wanted` sends from the window at `uri` or, with Redis away, from this process's
    own window: how many were granted and, when none was, when the window frees up."""
    try:
        limiter = _rate_limiter(uri)
        if limiter.hit(item, *RATE_KEY, cost=wanted):
            return wanted, 0.0
        reset_at, remaining = limiter.get_window_stats(item, *RATE_KEY)
        if 0 < remaining < wanted and limiter.hit(item, *RATE_KEY, cost=remaining):
            return remaining, 0.0
        return 0, reset_at
    except Exception as exc:
        if uri == MEMORY:
            raise
        log.warning("email rate: Redis is unreachable (%s); counting in memory", exc)
        return _take_slots(MEMORY, item, wanted)


class SendingSlots:
    """Leave to send under the provider's quota. Every worker draws from one shared window
    (Redis), so the quota holds overall; a block of slots per call keeps that to a few
    calls per batch rather than one per email."""

    def __init__(self, settings: Settings) -> None:
        rate = settings.email_rate_per_second
        self.item = parse(f"{rate}/second")
        self.uri = settings.redis_url or MEMORY
        # A tenth of a second's quota at a time: no worker holds slots it cannot use soon.
        self.block = max(1, rate // 10)
        self.left = 0
        self._lock = asyncio.Lock()

    async def take(self, *, still_to_send: int = 1) -> None:
        """One slot, after waiting for the window when it is used up. `still_to_send` bounds
        the block drawn, so a short run does not take slots it will not use."""
        async with self._lock:
            while self.left == 0:
                wanted = max(1, min(self.block, still_to_send))
                granted, reset_at = await asyncio.to_thread(
                    _take_slots, self.uri, self.item, wanted
                )
                self.left = granted
                if not granted:
                    await asyncio.sleep(max(0.01, min(1.0, reset_at - time.time())))
            self.left -= 1


class Verdicts:
    """The outcomes of a claimed batch, written a block at a time while it is sent (a kill
    then resends at most a block) and the rest, with what was never tried, at the end."""

    def __init__(
        self, claimed: Sequence[Email], *, block: int, now: datetime | None, record: Recorder
    ) -> None:
        self.claimed = {email.id: email for email in claimed}
        self.block = block
        self.now = now
        self.record = record
        self.outcomes: dict[Any, Outcome] = {}
        # Emails sent a second time in this batch after their connection broke.
        self.resent: set[Any] = set()
        self.report = SendReport()
        self._unwritten: list[Any] = []
        # The database refused a block of verdicts: sending stops until `finish` writes them.
        self.held = False

    async def add(self, email: Email, outcome: Outcome) -> None:
        self.outcomes[email.id] = outcome
        self._unwritten.append(email.id)
        if len(self._unwritten) >= self.block and not self.held:
            taken = self._take()
            try:
                await self._write(taken)
            except StorageUnavailable:
                # Sent but not recorded: resent after the lease unless written later.
                self._unwritten = taken + self._unwritten
                self.held = True

    def _take(self) -> list[Any]:
        # Taken before awaiting, so senders on other connections never write one twice.
        taken, self._unwritten = self._unwritten, []
        return taken

    async def _write(self, email_ids: list[Any]) -> None:
        emails = [self.claimed[i] for i in email_ids]
        tried = {i: self.outcomes[i] for i in email_ids if i in self.outcomes}
        self.report += await self.record(emails, tried, self.resent, self.now or utcnow())

    async def finish(self) -> SendReport:
        """Write what is left: the last outcomes, and the emails never tried; while the
        database refuses writes, again every second for a while."""
        untried = [i for i in self.claimed if i not in self.outcomes]
        left = self._take() + untried
        give_up_at = time.monotonic() + VERDICT_WAIT_SECONDS
        while True:
            try:
                await self._write(left)
                return self.report
            except StorageUnavailable:
                if time.monotonic() >= give_up_at:
                    raise
                await asyncio.sleep(VERDICT_RETRY_SECONDS)

    @property
    def server_away(self) -> bool:
        return any(
            failure is not None and failure.server_away for failure in self.outcomes.values()
        )


async def send_batch(
    claimed: Sequence[Email],
    transport: FileTransport | SmtpTransport,
    builder: MessageBuilder,
    slots: SendingSlots,
    verdicts: Verdicts,
) -> None:
    """Send a claimed batch over a few connections at once, each outcome to `verdicts`."""
    waiting: deque[tuple[Email, Outgoing]] = deque()
    for email in claimed:
        try:
            waiting.append((email, builder.build(email, now=utcnow())))
        except Exception as exc:  # what cannot be built now never will be: no retries
            failure = DeliveryError(f"cannot build the message: {exc!r}", permanent=True)
            await verdicts.add(email, failure)
    channels = transport.channels(-(-len(waiting) // EMAILS_PER_CONNECTION))
    # The other connections open once the first has delivered: a server that is away costs
    # one failed attempt, not one per connection.
    delivered = asyncio.Event()
    stop = False

    def halted() -> bool:
        # The server is away, the database refused a block of verdicts, or the process stops.
        return stop or verdicts.held or sending_stopped()

    async def drain(channel: Channel, *, first: bool) -> None:
        nonlocal stop
        try:
            if not first:
                await delivered.wait()
            while waiting and not halted():
                await slots.take(still_to_send=len(waiting))
                # Checked again: another connection may have halted the batch meanwhile.
                if not waiting or halted():
                    return
                email, message = waiting.popleft()
                try:
                    await channel.send(message)
                except DeliveryError as failure:
                    if failure.then is Then.dropped and email.id not in verdicts.resent:
                        # Once more, on the connection the next send opens; it counts as an
                        # attempt of its own.
                        verdicts.resent.add(email.id)
                        waiting.appendleft((email, message))
                        continue
                    stop = stop or failure.server_away
                    await verdicts.add(email, failure)
                    continue
                delivered.set()
                await verdicts.add(email, None)
        finally:
            if first:
                delivered.set()

    await asyncio.gather(*(drain(c, first=n == 0) for n, c in enumerate(channels)))
