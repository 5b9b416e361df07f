"""The outbox: write every email first, then send it from a worker, exactly once.

A worker claims a batch of due emails with one update (pending or failed → sending, with a
lease and a token naming this claim), so two workers never send the same one, and writes
the batch's verdicts in one bulk write that matches the token, so a late verdict cannot
settle a newer claim. A transient failure makes an email `failed` with its next try
scheduled (exponential backoff and jitter) and a send job due at that very time; a
permanent one, or the last attempt, makes it `dead`. A send job keeps going until nothing
is due, so the sweep every minute is only the safety net: it re-enqueues what is due and
what a dead worker held.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from pymongo.errors import DuplicateKeyError

from app.core import jobs
from app.core.config import Settings, get_settings
from app.core.db import (
    aggregate,
    claim_many,
    claim_one,
    collection,
    insert_many_ignoring_duplicates,
    joined,
    update_each,
)
from app.core.errors import Conflict, NotFound
from app.core.metrics import EMAIL_DELAY, EMAILS, Gauges
from app.core.pagination import newest_first_page
from app.core.security import as_utc, utcnow
from app.delivery.message import MessageBuilder
from app.delivery.models import Email, EmailKind, EmailStatus
from app.delivery.render import Rendered
from app.delivery.stopping import sending_stopped
from app.delivery.transport import (
    Channel,
    DeliveryError,
    FileTransport,
    Outgoing,
    SmtpTransport,
    make_transport,
)

log = logging.getLogger(__name__)

SEND_JOB = "delivery.send_emails"
SWEEP_JOB = "delivery.sweep"
# Longer than an SMTP timeout, so a live worker's claim never expires under it.
LEASE = timedelta(minutes=5)
BACKOFF_SECONDS = (30, 120, 480, 1800, 7200)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
# Claimed together: three round trips per claim, so 200 keeps the claims at 0.015 per email
# (outcomes add 1/EMAIL_OUTCOME_BLOCK). Bounded, and far under a lease at any quota.
SEND_BATCH = 200
# A batch gets one more connection for every this many emails (up to SMTP_CONNECTIONS): a
# few emails go over one connection, a broadcast over several at once.
EMAILS_PER_CONNECTION = 25
# Send jobs asked for by one write of many emails. Each keeps going until nothing is due,
# so one would do; a few let a broadcast spread over several workers.
SEND_JOBS_PER_WRITE = 4
# Waiting for a (first or next) attempt.
DUE_STATUSES = [EmailStatus.pending, EmailStatus.failed]
# What a person may send again.
RETRYABLE_STATUSES = [EmailStatus.failed, EmailStatus.dead]


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after `attempts` failed ones, with ±20 % jitter."""
    base = BACKOFF_SECONDS[min(attempts, len(BACKOFF_SECONDS)) - 1]
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


def new_email(
    *,
    key: str,
    kind: EmailKind,
    to: str,
    rendered: Rendered,
    recipient_id: PydanticObjectId | None = None,
    headers: dict[str, str] | None = None,
    not_before: datetime | None = None,
    school_id: PydanticObjectId | None = None,
    source_id: PydanticObjectId | None = None,
    notification_ids: Sequence[PydanticObjectId] = (),
) -> Email:
    return Email(
        idempotency_key=key,
        kind=kind,
        to=to,
        recipient_id=recipient_id,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        headers=headers or {},
        next_attempt_at=not_before or utcnow(),
        school_id=school_id,
        source_id=source_id,
        notification_ids=list(notification_ids),
    )


async def find_email(key: str) -> Email | None:
    """The email written with this idempotency key, if any."""
    return await Email.find_one({"idempotency_key": key})


async def queue_email(email: Email) -> Email:
    """Write one email to the outbox (or find the one with its key) and ask a worker to send it."""
    try:
        await email.insert()
    except DuplicateKeyError:
        existing = await find_email(email.idempotency_key)
        assert existing is not None
        return existing
    EMAILS.labels("queued").inc()
    await jobs.enqueue(SEND_JOB, email_ids=[str(email.id)])
    return email


async def queue_emails(emails: Sequence[Email]) -> int:
    """Write a batch with one unordered insert (keys already there are skipped), then one job."""
    documents = [e.model_dump(by_alias=True, exclude={"id"}) for e in emails]
    written = await insert_many_ignoring_duplicates(collection(Email), documents)
    EMAILS.labels("queued").inc(written)
    await _enqueue_sends(written)
    return written


async def _enqueue_sends(count: int, **clock: Any) -> None:
    """Send jobs for `count` due emails: one per batch, at most a few. Each keeps going
    until nothing is due, so none is left for the next sweep."""
    for _ in range(min(SEND_JOBS_PER_WRITE, -(-count // SEND_BATCH))):
        await jobs.enqueue(SEND_JOB, email_ids=None, **clock)


# --- sending -----------------------------------------------------------------------------


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


async def claim(
    *, now: datetime, email_ids: Sequence[PydanticObjectId] | None, limit: int = SEND_BATCH
) -> list[Email]:
    """Take up to `limit` due emails for sending, the longest due first, under one fresh
    lease token; an email goes to one caller only. Three round trips, whatever `limit`."""
    query: dict[str, Any] = {"status": {"$in": DUE_STATUSES}, "next_attempt_at": {"$lte": now}}
    if email_ids is not None:
        query["_id"] = {"$in": list(email_ids)}
    claimed = await claim_many(
        Email,
        query,
        {
            "$set": {"status": EmailStatus.sending, "lease_until": now + LEASE},
            "$inc": {"attempts": 1},
        },
        token_field="lease_token",
        token=uuid.uuid4().hex,
        sort=[("next_attempt_at", 1)],
        limit=limit,
    )
    return [Email.model_validate(raw) for raw in claimed]


def _this_claim(email: Email) -> dict[str, Any]:
    """Matches the email only while it is still the claim this worker made: a send that
    outlived its lease, handed on by the sweep, must not overwrite the newer claim."""
    return {"_id": email.id, "status": EmailStatus.sending, "lease_token": email.lease_token}


# What became of one claimed email: None when the server took it.
Outcome = DeliveryError | None


async def _record(claimed: Sequence[Email], outcomes: dict[Any, Outcome], now: datetime) -> None:
    """Write the verdicts of a batch in one bulk write: sent; failed with its next try (a
    send job due then); dead; or, for an email the run never tried (it stopped on a lost
    connection), handed back as it was."""
    changes: list[tuple[dict[str, Any], dict[str, Any]]] = []
    retries: list[tuple[Email, datetime]] = []
    for email in claimed:
        if email.id not in outcomes:
            before = EmailStatus.pending if email.attempts <= 1 else EmailStatus.failed
            update: dict[str, Any] = {
                "$set": {"status": before, "lease_until": None, "lease_token": None},
                "$inc": {"attempts": -1},
            }
        elif (failure := outcomes[email.id]) is None:
            EMAILS.labels("sent").inc()
            EMAIL_DELAY.observe(max(0.0, (now - as_utc(email.created_at)).total_seconds()))
            update = {
                "$set": {
                    "status": EmailStatus.sent,
                    "sent_at": now,
                    "lease_until": None,
                    "lease_token": None,
                    "last_error": None,
                }
            }
        else:
            changes_of_failure: dict[str, Any]
            if failure.permanent or email.attempts >= MAX_ATTEMPTS:
                changes_of_failure = {"status": EmailStatus.dead}
            else:
                retry_at = now + backoff(email.attempts)
                retries.append((email, retry_at))
                changes_of_failure = {"status": EmailStatus.failed, "next_attempt_at": retry_at}
            changes_of_failure.update(
                {"lease_until": None, "lease_token": None, "last_error": str(failure)[:1000]}
            )
            dead = changes_of_failure["status"] == EmailStatus.dead
            EMAILS.labels("dead" if dead else "retry").inc()
            log.warning(
                "email %s to %s failed (%s): %s",
                email.id,
                email.to,
                changes_of_failure["status"],
                failure,
            )
            update = {"$set": changes_of_failure}
        changes.append((_this_claim(email), update))
    settled = await update_each(Email, changes)
    if settled < len(changes):
        # Some verdicts came too late (another worker holds those emails now). Their retry
        # jobs below are harmless: a job sends only what is due when it runs.
        log.warning("%d email verdicts were too late to count", len(changes) - settled)
    # Each next try is a job due at its own time; the sweep only catches what slips. With
    # the server away, the emails after these wait too: that job sends whatever is due then.
    away = [at for email, at in retries if _lost_connection(outcomes[email.id])]
    if away:
        await jobs.enqueue(SEND_JOB, countdown=_seconds_until(min(away)), email_ids=None)
    for email, retry_at in retries:
        if not _lost_connection(outcomes[email.id]):
            await jobs.enqueue(
                SEND_JOB, countdown=_seconds_until(retry_at), email_ids=[str(email.id)]
            )


def _lost_connection(outcome: Outcome) -> bool:
    return outcome is not None and outcome.connection_lost


def _seconds_until(moment: datetime) -> float:
    return (moment - utcnow()).total_seconds()


class Verdicts:
    """The outcomes of a claimed batch, written a block at a time while it is sent (a kill
    then resends at most a block) and the rest, with what was never tried, at the end."""

    def __init__(self, claimed: Sequence[Email], *, block: int, now: datetime | None) -> None:
        self.claimed = {email.id: email for email in claimed}
        self.block = block
        self.now = now
        self.outcomes: dict[Any, Outcome] = {}
        self._unwritten: list[Any] = []

    async def add(self, email: Email, outcome: Outcome) -> None:
        self.outcomes[email.id] = outcome
        self._unwritten.append(email.id)
        if len(self._unwritten) >= self.block:
            await self._write(self._take())

    def _take(self) -> list[Any]:
        # Taken before awaiting, so senders on other connections never write one twice.
        taken, self._unwritten = self._unwritten, []
        return taken

    async def _write(self, email_ids: list[Any]) -> None:
        emails = [self.claimed[i] for i in email_ids]
        tried = {i: self.outcomes[i] for i in email_ids if i in self.outcomes}
        await _record(emails, tried, self.now or utcnow())

    async def finish(self) -> None:
        """Write what is left: the last outcomes, and the emails never tried."""
        untried = [i for i in self.claimed if i not in self.outcomes]
        await self._write(self._take() + untried)


async def _send_batch(
    claimed: Sequence[Email],
    transport: FileTransport | SmtpTransport,
    builder: MessageBuilder,
    slots: SendingSlots,
    verdicts: Verdicts,
) -> dict[Any, Outcome]:
    """Send a claimed batch over a few connections at once; returns each tried email's
    outcome. A lost connection stops the batch: the server is away, and the backoff decides
    when to try again."""
    outcomes = verdicts.outcomes
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

    async def drain(channel: Channel, *, first: bool) -> None:
        nonlocal stop
        try:
            if not first:
                await delivered.wait()
            while waiting and not stop and not sending_stopped():
                await slots.take(still_to_send=len(waiting))
                if stop or not waiting or sending_stopped():
                    return
                email, message = waiting.popleft()
                try:
                    await channel.send(message)
                except DeliveryError as failure:
                    stop = stop or failure.connection_lost
                    await verdicts.add(email, failure)
                    continue
                delivered.set()
                await verdicts.add(email, None)
        finally:
            if first:
                delivered.set()

    await asyncio.gather(*(drain(c, first=n == 0) for n, c in enumerate(channels)))
    return outcomes


@jobs.job(SEND_JOB, queue=jobs.EMAIL_QUEUE)
async def send_emails(*, email_ids: list[str] | None = None, now: datetime | None = None) -> int:
    """Send due emails (these ones, or any) a batch at a time until none is due, over a few
    connections kept for the whole run; returns how many were sent."""
    settings = get_settings()
    ids = [PydanticObjectId(i) for i in email_ids] if email_ids is not None else None
    builder = MessageBuilder(settings)
    slots = SendingSlots(settings)
    sent = 0
    async with make_transport(settings) as transport:
        while not sending_stopped() and (
            claimed := await claim(now=now or utcnow(), email_ids=ids)
        ):
            verdicts = Verdicts(claimed, block=settings.email_outcome_block, now=now)
            outcomes = await _send_batch(claimed, transport, builder, slots, verdicts)
            await verdicts.finish()
            sent += sum(1 for outcome in outcomes.values() if outcome is None)
            if any(_lost_connection(outcome) for outcome in outcomes.values()):
                break  # the server is away: the backoff decides when to try again
    return sent


@jobs.job(SWEEP_JOB)
async def sweep(*, now: datetime | None = None, all_leases: bool = False) -> int:
    """Hand back emails whose sender died (lease expired) and send everything due (beat).
    `all_leases`: every email being sent is an orphan (the start of the only process)."""
    # A time given by the caller (a replay, a test's clock) is the send jobs' time too.
    clock: dict[str, Any] = {"now": now} if now is not None else {}
    now = now or utcnow()
    documents = collection(Email)
    orphaned: dict[str, Any] = {"status": EmailStatus.sending}
    if not all_leases:
        orphaned["lease_until"] = {"$lt": now}
    await documents.update_many(
        orphaned,
        {
            "$set": {
                "status": EmailStatus.pending,
                "next_attempt_at": now,
                "lease_until": None,
                "lease_token": None,
            }
        },
    )
    due = await documents.count_documents(
        {"status": {"$in": DUE_STATUSES}, "next_attempt_at": {"$lte": now}}
    )
    await _enqueue_sends(due, **clock)
    return due


# --- figures -----------------------------------------------------------------------------


async def outbox_gauges() -> Gauges:
    """How deep the outbox is and how long its oldest due email has waited (for /metrics):
    queries on the status indexes, never a scan of the sent ones. A failed email waits for
    its retry, so it counts as not yet sent."""
    now = utcnow()
    documents = collection(Email)
    waiting = (EmailStatus.pending, EmailStatus.sending, EmailStatus.failed)
    counted = await aggregate(
        Email,
        [
            {"$match": {"status": {"$in": [status.value for status in waiting]}}},
            {"$group": {"_id": "$status", "count": {"$sum": 1}}},
        ],
    )
    by_status = {row["_id"]: row["count"] for row in counted}
    depth = [
        ({"status": status.value}, float(by_status.get(status.value, 0))) for status in waiting
    ]
    oldest = await documents.find_one(
        {"status": {"$in": DUE_STATUSES}, "next_attempt_at": {"$lte": now}},
        sort=[("next_attempt_at", 1)],
        projection={"next_attempt_at": 1},
    )
    age = (now - as_utc(oldest["next_attempt_at"])).total_seconds() if oldest else 0.0
    return {
        "schoolbell_outbox_emails": ("Emails in the outbox not yet sent, by status.", depth),
        "schoolbell_outbox_oldest_due_age_seconds": (
            "How long the oldest pending email has been due and waiting (0 when none is); "
            "emails held for quiet hours or a retry count only from when they fall due.",
            [({}, max(0.0, age))],
        ),
    }


async def email_counts(match: dict[str, Any]) -> dict[str, int]:
    """How many emails matching `match` are in each status."""
    counts = {status.value: 0 for status in EmailStatus}
    for row in await aggregate(
        Email, [{"$match": match}, {"$group": {"_id": "$status", "count": {"$sum": 1}}}]
    ):
        counts[row["_id"]] = row["count"]
    return counts


# --- what a person sees and requeues -----------------------------------------------------


async def adopt_source_field(legacy_field: str) -> int:
    """Emails stored when what they were about had a field of its own name (before
    `source_id`) take the generic field; safe to repeat. How many moved."""
    result = await collection(Email).update_many(
        {legacy_field: {"$exists": True}}, {"$rename": {legacy_field: "source_id"}}
    )
    return int(result.modified_count)


async def list_emails(
    *, scope: dict[str, Any], statuses: Sequence[EmailStatus], limit: int, cursor: str | None
) -> tuple[list[Email], str | None]:
    """Emails within `scope` (the caller's schools, what they are about) in these statuses,
    newest first."""
    query: dict[str, Any] = {**scope, "status": {"$in": list(statuses)}}
    return await newest_first_page(Email, query, limit=limit, cursor=cursor)


def _requeued() -> dict[str, Any]:
    # A fresh set of attempts: a person decided the cause is fixed.
    return {
        "$set": {"status": EmailStatus.pending, "next_attempt_at": utcnow(), "attempts": 0},
    }


async def retry_email(*, email_id: PydanticObjectId, scope: dict[str, Any]) -> Email:
    """Send a failed or dead email again, now. 404 outside `scope`; 409 unless it failed."""
    email = await Email.find_one({**scope, "_id": email_id})
    if email is None:
        raise NotFound("Email not found")
    raw = await claim_one(
        Email, {"_id": email_id, "status": {"$in": RETRYABLE_STATUSES}}, _requeued()
    )
    if raw is None:
        raise Conflict(f"Only a failed or dead email can be sent again; this one is {email.status}")
    await jobs.enqueue(SEND_JOB, email_ids=[str(email_id)])
    return Email.model_validate(raw)


async def retry_emails(*, scope: dict[str, Any], statuses: Sequence[EmailStatus]) -> int:
    """Send every failed or dead email within `scope` again, now; returns how many."""
    wanted = [s for s in statuses if s in RETRYABLE_STATUSES]
    result = await collection(Email).update_many({**scope, "status": {"$in": wanted}}, _requeued())
    requeued = int(result.modified_count)
    await _enqueue_sends(requeued)
    return requeued


# --- emails in figures: stages another layer composes into one aggregation --------------


def email_count_stages(*, key_field: str, since: datetime | None = None) -> list[dict[str, Any]]:
    """From documents whose `_id` is a value of the emails' `key_field` (`school_id`,
    `source_id`): their emails (created since `since`), by status.
    Rows: {_id: status, count}."""
    match = {"created_at": {"$gte": since}} if since is not None else None
    return [
        *joined(Email, local_field="_id", foreign_field=key_field, match=match),
        {"$group": {"_id": "$status", "count": {"$sum": 1}}},
    ]


def counts_by_status(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """The rows of email_count_stages as a count for every status."""
    counts = {status.value: 0 for status in EmailStatus}
    for row in rows:
        counts[row["_id"]] = row["count"]
    return counts
