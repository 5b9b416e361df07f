"""The outbox: write every email first, then send it from a worker, exactly once.

A worker claims a batch of due emails with one update (pending or failed → sending, with a
lease and a token naming this claim), so two workers never send the same one, and writes
the batch's verdicts in one bulk write that matches the token, so a late verdict cannot
settle a newer claim. A transient failure makes an email `failed` with its next try
scheduled (exponential backoff and jitter) and a send job due at that very time; a
permanent one, or the last attempt, makes it `dead`. A send job keeps going until nothing
is due, so the sweep every minute is only the safety net: it re-enqueues what is due and
what a dead worker held (a live worker renews its lease, however slowly the server answers).
How a claimed batch is sent, and what each mail server fault means for it, is sending.py.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from app.core import jobs
from app.core.config import get_settings
from app.core.db import (
    joined,
)
from app.core.errors import Conflict, NotFound
from app.core.metrics import EMAIL_DELAY, EMAILS
from app.core.security import as_utc, utcnow
from app.delivery import repository
from app.delivery.message import MessageBuilder
from app.delivery.models import Attachment, Email, EmailKind, EmailStatus
from app.delivery.render import Rendered
from app.delivery.sending import Outcome, SendingSlots, SendReport, Verdicts, send_batch
from app.delivery.stopping import sending_stopped
from app.delivery.transport import DeliveryError, make_transport

__all__ = ["DeliveryError", "SendingSlots", "SendReport"]

log = logging.getLogger(__name__)

SEND_EMAILS_JOB = "delivery.send_emails"
SWEEP_JOB = "delivery.sweep"
# A claim's lease, renewed every third of it while its batch is being sent: a live worker
# keeps its emails through any wait on the server (up to SMTP_DATA_TIMEOUT_SECONDS per
# email), and a dead one's go back to the outbox this long after it stopped renewing.
LEASE = timedelta(minutes=5)
BACKOFF_SECONDS = (30, 120, 480, 1800, 7200)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
# Claimed together: three round trips per claim, so 200 keeps the claims at 0.015 per email
# (outcomes add 1/EMAIL_OUTCOME_BLOCK). Bounded, and far under a lease at any quota.
SEND_BATCH = 200
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
    attachments: Sequence[Attachment] = (),
) -> Email:
    now = utcnow()
    return Email(
        idempotency_key=key,
        kind=kind,
        to=to,
        recipient_id=recipient_id,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        headers=headers or {},
        next_attempt_at=not_before or now,
        due_at=not_before or now,
        school_id=school_id,
        source_id=source_id,
        notification_ids=list(notification_ids),
        attachments=list(attachments),
    )


async def find_email(key: str) -> Email | None:
    """The email written with this idempotency key, if any."""
    return await repository.by_key(key)


async def queue_email(email: Email) -> Email:
    """Write one email to the outbox (or find the one with its key) and ask a worker to send it."""
    try:
        await repository.insert(email)
    except DuplicateKeyError:
        existing = await find_email(email.idempotency_key)
        assert existing is not None
        return existing
    EMAILS.labels("queued").inc()
    await jobs.enqueue(SEND_EMAILS_JOB, email_ids=[str(email.id)])
    return email


def has_mailbox(address: str) -> bool:
    """RFC 2606 keeps the .invalid domain from ever receiving mail: a student imported
    without an address holds one there, and is told things in the app only."""
    domain = address.rpartition("@")[2].lower().rstrip(".")
    return domain != "invalid" and not domain.endswith(".invalid")


async def queue_emails(emails: Sequence[Email]) -> int:
    """Write a batch with one unordered insert (keys already there are skipped), then one job.
    Emails to an address without a mailbox are not written."""
    written = await repository.insert_new([email for email in emails if has_mailbox(email.to)])
    EMAILS.labels("queued").inc(written)
    await _enqueue_sends(written)
    return written


async def _enqueue_sends(count: int, **clock: Any) -> None:
    """Send jobs for `count` due emails: one per batch, at most a few. Each keeps going
    until nothing is due, so none is left for the next sweep."""
    for _ in range(min(SEND_JOBS_PER_WRITE, -(-count // SEND_BATCH))):
        await jobs.enqueue(SEND_EMAILS_JOB, email_ids=None, **clock)


# What is being or has been put on the wire: a reader may have it.
ON_THE_WIRE = [EmailStatus.sending, EmailStatus.sent]


async def cancel_unsent(source_id: PydanticObjectId) -> int:
    """Take back the emails about `source_id` that have not started going out (pending, or
    failed and waiting for a retry); one being sent is past recall. How many were taken."""
    return await repository.delete_all({"source_id": source_id, "status": {"$in": DUE_STATUSES}})


async def reached_by(source_id: PydanticObjectId) -> set[PydanticObjectId]:
    """Who has been sent (or is being sent) an email about `source_id`."""
    return await repository.recipients(
        {"source_id": source_id, "status": {"$in": ON_THE_WIRE}, "recipient_id": {"$ne": None}}
    )


# --- sending -----------------------------------------------------------------------------


async def claim(
    *, now: datetime, email_ids: Sequence[PydanticObjectId] | None, limit: int = SEND_BATCH
) -> list[Email]:
    """Take up to `limit` due emails for sending, the longest due first, under one fresh
    lease token; an email goes to one caller only. Three round trips, whatever `limit`."""
    query: dict[str, Any] = {"status": {"$in": DUE_STATUSES}, "next_attempt_at": {"$lte": now}}
    if email_ids is not None:
        query["_id"] = {"$in": list(email_ids)}
    return await repository.claim(
        query,
        {
            "$set": {"status": EmailStatus.sending, "lease_until": now + LEASE},
            "$inc": {"attempts": 1},
        },
        token=uuid.uuid4().hex,
        limit=limit,
    )


def _this_claim(email: Email) -> dict[str, Any]:
    """Matches the email only while it is still the claim this worker made: a send that
    outlived its lease, handed on by the sweep, must not overwrite the newer claim."""
    return {"_id": email.id, "status": EmailStatus.sending, "lease_token": email.lease_token}


async def _record(
    claimed: Sequence[Email],
    outcomes: dict[Any, Outcome],
    resent: set[Any],
    now: datetime,
) -> SendReport:
    """Write the verdicts of a batch in one bulk write: sent; failed with its next try (a
    send job due then); dead; or, for an email the run never tried (it stopped on a server
    away), handed back as it was. An email in `resent` went twice (its connection broke the
    first time): two attempts."""
    changes: list[tuple[dict[str, Any], dict[str, Any]]] = []
    retries: list[tuple[Email, datetime]] = []
    report = SendReport()
    for email in claimed:
        extra = 1 if email.id in resent else 0
        attempts = email.attempts + extra
        if email.id not in outcomes:
            # Never tried, or (stopped before its resend) tried only on the dropped connection:
            # the claim's attempt is given back unless it happened.
            report.deferred += 1
            extra -= 1
            before = EmailStatus.pending if attempts - 1 == 0 else EmailStatus.failed
            update: dict[str, Any] = {
                "$set": {"status": before, "lease_until": None, "lease_token": None},
            }
        elif (failure := outcomes[email.id]) is None:
            report.delivered += 1
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
            if failure.permanent or attempts >= MAX_ATTEMPTS:
                changes_of_failure = {"status": EmailStatus.dead}
                report.lost += 1
            else:
                retry_at = now + backoff(attempts)
                retries.append((email, retry_at))
                changes_of_failure = {"status": EmailStatus.failed, "next_attempt_at": retry_at}
                report.deferred += 1
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
        if extra:
            update["$inc"] = {"attempts": extra}
        changes.append((_this_claim(email), update))
    settled = await repository.settle(changes)
    if settled < len(changes):
        # Some verdicts came too late (another worker holds those emails now). Their retry
        # jobs below are harmless: a job sends only what is due when it runs.
        log.warning("%d email verdicts were too late to count", len(changes) - settled)
    # Each next try is a job due at its own time; the sweep only catches what slips. With
    # the server away, the emails after these wait too: that job sends whatever is due then.
    away = [at for email, at in retries if _server_away(outcomes[email.id])]
    if away:
        await jobs.enqueue(SEND_EMAILS_JOB, countdown=_seconds_until(min(away)), email_ids=None)
    for email, retry_at in retries:
        if not _server_away(outcomes[email.id]):
            await jobs.enqueue(
                SEND_EMAILS_JOB, countdown=_seconds_until(retry_at), email_ids=[str(email.id)]
            )
    return report


def _server_away(outcome: Outcome) -> bool:
    return outcome is not None and outcome.server_away


def _seconds_until(moment: datetime) -> float:
    return (moment - utcnow()).total_seconds()


async def _keep_lease(token: str | None, claimed_at: datetime) -> None:
    """Renew the lease of a claim's unsettled emails every third of a lease, for as long as
    its batch is being sent (cancelled then): a slow server never lets the sweep hand an
    email that is on the wire to another worker."""
    started = time.monotonic()
    while True:
        await asyncio.sleep(LEASE.total_seconds() / 3)
        # On the claim's own clock, which a replay or a test may have set.
        now = claimed_at + timedelta(seconds=time.monotonic() - started)
        await repository.update_all(
            {"status": EmailStatus.sending, "lease_token": token},
            {"$set": {"lease_until": now + LEASE}},
        )


@jobs.job(SEND_EMAILS_JOB, queue=jobs.EMAIL_QUEUE)
async def send_emails(
    *, email_ids: list[str] | None = None, now: datetime | None = None
) -> SendReport:
    """Send due emails (these ones, or any) a batch at a time until none is due, over a few
    connections kept for the whole run; reports how many were delivered, deferred and lost."""
    settings = get_settings()
    ids = [PydanticObjectId(i) for i in email_ids] if email_ids is not None else None
    builder = MessageBuilder(settings)
    slots = SendingSlots(settings)
    report = SendReport()
    async with make_transport(settings) as transport:
        while not sending_stopped():
            claimed_at = now or utcnow()
            claimed = await claim(now=claimed_at, email_ids=ids)
            if not claimed:
                break
            verdicts = Verdicts(
                claimed, block=settings.email_outcome_block, now=now, record=_record
            )
            lease = asyncio.create_task(_keep_lease(claimed[0].lease_token, claimed_at))
            try:
                await send_batch(claimed, transport, builder, slots, verdicts)
            finally:
                lease.cancel()
            report += await verdicts.finish()
            if verdicts.server_away:
                break  # the backoff decides when to try again
    return report


# dev calls it with all_leases=True itself at start, before its workers run (every email
# being sent then is an orphan), so it asks for no start-up run here.
@jobs.job(SWEEP_JOB, every=timedelta(minutes=1))
async def sweep(*, now: datetime | None = None, all_leases: bool = False) -> int:
    """Hand back emails whose sender died (lease expired) and send everything due (beat).
    `all_leases`: every email being sent is an orphan (the start of the only process)."""
    # A time given by the caller (a replay, a test's clock) is the send jobs' time too.
    clock: dict[str, Any] = {"now": now} if now is not None else {}
    now = now or utcnow()
    orphaned: dict[str, Any] = {"status": EmailStatus.sending}
    if not all_leases:
        orphaned["lease_until"] = {"$lt": now}
    await repository.update_all(
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
    due = await repository.count(
        {"status": {"$in": DUE_STATUSES}, "next_attempt_at": {"$lte": now}}
    )
    await _enqueue_sends(due, **clock)
    return due


# --- what a person sees and requeues -----------------------------------------------------


async def adopt_source_field(legacy_field: str) -> int:
    """Emails stored when what they were about had a field of its own name (before
    `source_id`) take the generic field; safe to repeat. How many moved."""
    return await repository.update_all(
        {legacy_field: {"$exists": True}}, {"$rename": {legacy_field: "source_id"}}
    )


async def list_emails(
    *, scope: dict[str, Any], statuses: Sequence[EmailStatus], limit: int, cursor: str | None
) -> tuple[list[Email], str | None]:
    """Emails within `scope` (the caller's schools, what they are about) in these statuses,
    newest first."""
    query: dict[str, Any] = {**scope, "status": {"$in": list(statuses)}}
    return await repository.newest_first(query, limit=limit, cursor=cursor)


def _requeued() -> dict[str, Any]:
    # A fresh set of attempts, due from now: a person decided the cause is fixed.
    now = utcnow()
    return {
        "$set": {
            "status": EmailStatus.pending,
            "next_attempt_at": now,
            "due_at": now,
            "attempts": 0,
        },
    }


async def retry_email(*, email_id: PydanticObjectId, scope: dict[str, Any]) -> Email:
    """Send a failed or dead email again, now. 404 outside `scope`; 409 unless it failed."""
    email = await repository.find_in(scope, email_id)
    if email is None:
        raise NotFound("Email not found")
    requeued = await repository.claim_one(
        {"_id": email_id, "status": {"$in": RETRYABLE_STATUSES}}, _requeued()
    )
    if requeued is None:
        raise Conflict(f"Only a failed or dead email can be sent again; this one is {email.status}")
    await jobs.enqueue(SEND_EMAILS_JOB, email_ids=[str(email_id)])
    return requeued


async def retry_emails(*, scope: dict[str, Any], statuses: Sequence[EmailStatus]) -> int:
    """Send every failed or dead email within `scope` again, now; returns how many."""
    wanted = [s for s in statuses if s in RETRYABLE_STATUSES]
    requeued = await repository.update_all({**scope, "status": {"$in": wanted}}, _requeued())
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
