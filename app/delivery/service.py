"""The outbox: write every email first, then send it from a worker, exactly once.

A worker claims an email with one atomic find_one_and_update (pending or failed → sending,
with a lease), so two workers never send the same one. A transient failure makes it
`failed` with its next try scheduled (exponential backoff and jitter) and a send job due at
that very time; a permanent one, or the last attempt, makes it `dead`. The sweep every
minute is the safety net: it re-enqueues what is due and what a dead worker held.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime, parseaddr
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
    claim_one,
    collection,
    insert_many_ignoring_duplicates,
    joined,
)
from app.core.errors import Conflict, NotFound
from app.core.metrics import EMAIL_DELAY, EMAILS, Gauges
from app.core.pagination import newest_first_page
from app.core.security import as_utc, utcnow
from app.delivery.models import Email, EmailKind, EmailStatus
from app.delivery.render import Rendered
from app.delivery.transport import DeliveryError, make_transport

log = logging.getLogger(__name__)

SEND_JOB = "delivery.send_emails"
SWEEP_JOB = "delivery.sweep"
# Longer than an SMTP timeout, so a live worker's claim never expires under it.
LEASE = timedelta(minutes=5)
BACKOFF_SECONDS = (30, 120, 480, 1800, 7200)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
SEND_BATCH = 100
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
    announcement_id: PydanticObjectId | None = None,
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
        announcement_id=announcement_id,
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
    """One send job per batch of `count` due emails; each claims its own, so they never
    overlap, and none is left for the next sweep."""
    for _ in range((count + SEND_BATCH - 1) // SEND_BATCH):
        await jobs.enqueue(SEND_JOB, email_ids=None, **clock)


# --- sending -----------------------------------------------------------------------------


_limiters: dict[str, MovingWindowRateLimiter] = {}
MEMORY = "memory://"


def _rate_limiter(uri: str) -> MovingWindowRateLimiter:
    if uri not in _limiters:
        _limiters[uri] = MovingWindowRateLimiter(storage_from_string(uri))
    return _limiters[uri]


def _take_slot(uri: str, item: RateLimitItem) -> float | None:
    """One send from the window at `uri`, or, with Redis away, from this process's own
    window; None when granted, else when the window frees up."""
    try:
        limiter = _rate_limiter(uri)
        if limiter.hit(item, "schoolbell", "email"):
            return None
        return limiter.get_window_stats(item, "schoolbell", "email")[0]
    except Exception as exc:
        if uri == MEMORY:
            raise
        log.warning("email rate: Redis is unreachable (%s); counting in memory", exc)
        return _take_slot(MEMORY, item)


async def _wait_for_sending_slot(settings: Settings) -> None:
    """Every worker draws from one shared window, so the provider's quota holds overall."""
    item = parse(f"{settings.email_rate_per_second}/second")
    uri = settings.redis_url or MEMORY
    while True:
        reset_at = await asyncio.to_thread(_take_slot, uri, item)
        if reset_at is None:
            return
        await asyncio.sleep(max(0.01, min(1.0, reset_at - time.time())))


async def claim(*, now: datetime, email_ids: Sequence[PydanticObjectId] | None) -> Email | None:
    """Take one due email for sending; None when there is none. Atomic: one winner."""
    query: dict[str, Any] = {"status": {"$in": DUE_STATUSES}, "next_attempt_at": {"$lte": now}}
    if email_ids is not None:
        query["_id"] = {"$in": list(email_ids)}
    raw = await claim_one(
        Email,
        query,
        {
            "$set": {"status": EmailStatus.sending, "lease_until": now + LEASE},
            "$inc": {"attempts": 1},
        },
        sort=[("next_attempt_at", 1)],
    )
    return Email.model_validate(raw) if raw is not None else None


class _UnfoldedHeader(UnstructuredHeader, BaseHeader):
    """A header written on one line as it is: the standard library would fold a long URL
    into RFC 2047 encoded words to fit 78 columns, and mail clients read List-Unsubscribe
    literally, so the one-click link would stop working."""

    def fold(self, *, policy: Policy) -> str:
        line = f"{self.name}: {self}"
        if line.isascii() and len(line) <= MAX_HEADER_LINE:
            return line + policy.linesep
        return BaseHeader.fold(self, policy=policy)


MAX_HEADER_LINE = 998  # RFC 5322's limit for any line
_headers = HeaderRegistry()
for _name in ("List-Unsubscribe", "List-Unsubscribe-Post"):
    _headers.map_to_type(_name.lower(), _UnfoldedHeader)
# Header objects keep their class through aiosmtplib's own flattening, so this holds on the
# wire as well as in `.eml` files.
MESSAGE_POLICY = policy.default.clone(header_factory=_headers)


def to_message(email: Email, settings: Settings) -> EmailMessage:
    message = EmailMessage(policy=MESSAGE_POLICY)
    message["From"] = settings.mail_from
    message["To"] = email.to
    message["Subject"] = email.subject
    message["Date"] = format_datetime(utcnow())
    # Derived from the idempotency key: a receiving server can spot a resend, too.
    digest = hashlib.sha256(email.idempotency_key.encode()).hexdigest()[:32]
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "schoolbell.local"
    message["Message-ID"] = f"<{digest}@{domain}>"
    for name, value in email.headers.items():
        message[name] = value
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message


def _this_claim(email: Email) -> dict[str, Any]:
    """Matches the email only while it is still the claim this worker made: a send that
    outlived its lease, handed on by the sweep, must not overwrite the newer claim."""
    return {"_id": email.id, "status": EmailStatus.sending, "attempts": email.attempts}


async def _record_sent(email: Email, now: datetime) -> None:
    EMAILS.labels("sent").inc()
    EMAIL_DELAY.observe(max(0.0, (now - as_utc(email.created_at)).total_seconds()))
    await collection(Email).update_one(
        _this_claim(email),
        {
            "$set": {
                "status": EmailStatus.sent,
                "sent_at": now,
                "lease_until": None,
                "last_error": None,
            }
        },
    )


async def _record_failure(email: Email, failure: DeliveryError, now: datetime) -> None:
    retry_at: datetime | None = None
    if failure.permanent or email.attempts >= MAX_ATTEMPTS:
        changes: dict[str, Any] = {"status": EmailStatus.dead}
    else:
        retry_at = now + backoff(email.attempts)
        changes = {"status": EmailStatus.failed, "next_attempt_at": retry_at}
    changes.update({"lease_until": None, "last_error": str(failure)[:1000]})
    EMAILS.labels("dead" if changes["status"] == EmailStatus.dead else "retry").inc()
    result = await collection(Email).update_one(_this_claim(email), {"$set": changes})
    log.warning("email %s to %s failed (%s): %s", email.id, email.to, changes["status"], failure)
    if retry_at is not None and result.modified_count:
        # The next try is a job due at its own time; the sweep only catches what slips.
        # With the server away, the run stopped here and the emails after this one wait
        # too: that job sends whatever is due then, not just this one.
        await jobs.enqueue(
            SEND_JOB,
            countdown=(retry_at - utcnow()).total_seconds(),
            email_ids=None if failure.connection_lost else [str(email.id)],
        )


@jobs.job(SEND_JOB, queue=jobs.EMAIL_QUEUE)
async def send_emails(
    *, email_ids: list[str] | None = None, now: datetime | None = None, limit: int = SEND_BATCH
) -> int:
    """Send due emails (these ones, or any) over one connection; returns how many were sent."""
    settings = get_settings()
    ids = [PydanticObjectId(i) for i in email_ids] if email_ids is not None else None
    sent = 0
    async with make_transport(settings) as transport:
        for _ in range(limit):
            moment = now or utcnow()
            email = await claim(now=moment, email_ids=ids)
            if email is None:
                break
            await _wait_for_sending_slot(settings)
            try:
                message = to_message(email, settings)
            except Exception as exc:  # what cannot be built now never will be: no retries
                failure = DeliveryError(f"cannot build the message: {exc!r}", permanent=True)
                await _record_failure(email, failure, now or utcnow())
                continue
            try:
                await transport.send(message)
            except DeliveryError as failure:
                await _record_failure(email, failure, now or utcnow())
                if failure.connection_lost:
                    break  # the server is away: the backoff decides when to try again
                continue
            await _record_sent(email, now or utcnow())
            sent += 1
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
        {"$set": {"status": EmailStatus.pending, "next_attempt_at": now, "lease_until": None}},
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
    depth = [
        ({"status": status.value}, float(await documents.count_documents({"status": status})))
        for status in (EmailStatus.pending, EmailStatus.sending, EmailStatus.failed)
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


async def list_emails(
    *, scope: dict[str, Any], statuses: Sequence[EmailStatus], limit: int, cursor: str | None
) -> tuple[list[Email], str | None]:
    """Emails within `scope` (the caller's schools, an announcement) in these statuses,
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
    `announcement_id`): their emails (created since `since`), by status.
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
