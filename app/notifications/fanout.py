"""publish(): writing a notice's notifications (and emails) for the recipients its producer
chose, in batches, idempotently; each person's preferences pick the channels.

A notice for more recipients than one batch is delivered in chunks: one job per batch on
the fan-out queue, which any worker takes, so a district broadcast goes as fast as there are
workers. The last chunk to finish tells the notice's topic it was delivered.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from beanie import PydanticObjectId

from app.auth import directory
from app.core import jobs
from app.core.config import get_settings
from app.core.security import utcnow
from app.delivery.service import queue_emails
from app.notifications import repository
from app.notifications.emails import immediate_emails
from app.notifications.models import (
    EmailDecision,
    Fanout,
    Notice,
    Notification,
    Recipient,
    StoredNotice,
)
from app.notifications.service import decide_email, wants_in_app
from app.notifications.settings import settings_for
from app.notifications.topics import topics

log = logging.getLogger(__name__)

FANOUT_BATCH_SIZE = 1000
CHUNK_JOB = "notifications.deliver_chunk"


def _batches(ids: Sequence[PydanticObjectId], size: int) -> Iterable[list[PydanticObjectId]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def unique_recipients(
    candidates: Iterable[PydanticObjectId], *, actor_id: PydanticObjectId | None
) -> list[PydanticObjectId]:
    """Candidates in first-seen order, each once, never the notice's author."""
    return [rid for rid in dict.fromkeys(candidates) if rid != actor_id]


def build_notification(notice: Notice, recipient: Recipient) -> Notification | None:
    """The notification one recipient gets, or None when they want neither inbox nor email."""
    user, preferences = recipient.user, recipient.preferences
    assert user.id is not None
    in_app = notice.in_app and wants_in_app(preferences, notice.topic, notice.priority)
    decision = decide_email(preferences, notice.topic, notice.priority)
    if not in_app and decision == EmailDecision.none:
        return None
    frequency = preferences.email_for(notice.topic)
    title, body = notice.words_for(user.locale.value)
    return Notification(
        event_key=notice.key,
        recipient_id=user.id,
        school_id=notice.school_id,
        topic=notice.topic,
        priority=notice.priority,
        title=title,
        body=body,
        data=notice.data,
        in_app=in_app,
        email_decision=decision,
        digest_frequency=frequency if decision == EmailDecision.digest else None,
        source_id=notice.source_id,
    )


async def publish(notice: Notice, *, now: datetime | None = None) -> int:
    """Tell the notice's recipients: inbox and email as each one's preferences say, never
    twice to anyone (safe to run again). Returns how many notifications it created here:
    a notice for more recipients than one batch is left to its chunk jobs (0 here)."""
    recipients = unique_recipients(notice.recipients, actor_id=notice.actor_id)
    batch_size = get_settings().fanout_batch_size
    if len(recipients) > batch_size:
        await _start_chunks(notice, recipients, batch_size=batch_size, now=now or utcnow())
        return 0
    created = await deliver(notice, recipients, batch_size=batch_size, now=now)
    await _tell_delivered(notice.topic, notice.key, notice.source_id)
    return created


async def _start_chunks(
    notice: Notice,
    recipients: Sequence[PydanticObjectId],
    *,
    batch_size: int,
    now: datetime,
) -> None:
    """Record the notice and one job per batch of its recipients, then send the jobs.

    The jobs are recorded first: a crash before the notice is recorded leaves jobs that find
    nothing to do, and the producer's job, not yet done, publishes again. A fan-out of this
    notice to this audience that exists already (its producer ran again) keeps the chunk
    jobs it has."""
    batches = list(_batches(recipients, batch_size))
    audience = hashlib.sha256(b"".join(i.binary for i in recipients)).hexdigest()
    fanout = Fanout(
        id=PydanticObjectId(),
        notice_key=notice.key,
        audience=audience,
        notice=StoredNotice.of(notice),
        decided_at=now,
        chunks=len(batches),
    )
    chunks = await jobs.reserve_many(
        CHUNK_JOB,
        [
            {"fanout_id": str(fanout.id), "chunk": n, "recipient_ids": [str(i) for i in batch]}
            for n, batch in enumerate(batches)
        ],
    )
    if await repository.insert_fanout(fanout) is None:
        await jobs.discard(chunks)
        existing = await repository.fanout_to(notice.key, audience)
        if existing is not None and existing.finished:
            # Its last chunk may have died before telling the producer: tell it again.
            await _tell_delivered(notice.topic, notice.key, notice.source_id)
        return
    log.info("notice %s goes to %d people in %d chunks", notice.key, len(recipients), len(batches))
    for chunk in chunks:
        await jobs.send(chunk)


@jobs.job(CHUNK_JOB, queue=jobs.FANOUT_QUEUE)
async def deliver_chunk(*, fanout_id: str, chunk: int, recipient_ids: list[str]) -> int:
    """Deliver one batch of a notice's recipients; the last chunk to finish tells the
    notice's topic. Safe to run again: nobody is notified twice, and a chunk counts once."""
    fanout = await repository.fanout_by_id(PydanticObjectId(fanout_id))
    if fanout is None or fanout.id is None:
        return 0
    notice = fanout.notice.notice(fanout.notice_key)
    created = await deliver(
        notice,
        [PydanticObjectId(i) for i in recipient_ids],
        batch_size=len(recipient_ids) or 1,
        now=fanout.decided_at,
    )
    counted = await repository.mark_chunk_done(fanout.id, chunk)
    if counted is not None and counted.finished:
        await _tell_delivered(notice.topic, notice.key, notice.source_id)
    return created


async def _tell_delivered(topic: str, key: str, source_id: PydanticObjectId | None) -> None:
    delivered = topics.get(topic).delivered
    if delivered is not None:
        await delivered(key, source_id)


async def deliver(
    notice: Notice,
    recipient_ids: Sequence[PydanticObjectId],
    *,
    batch_size: int = FANOUT_BATCH_SIZE,
    now: datetime | None = None,
) -> int:
    """Write the event's notifications, a batch of recipients per round trip; idempotent.

    Each batch is a query for who already has it, one for the recipients, one for their
    settings and one unordered insert_many; rows that exist (a retried or repeated fan-out)
    are never written twice.
    Returns how many notifications this call created.
    """
    recipients = unique_recipients(recipient_ids, actor_id=notice.actor_id)
    created = 0
    for batch in _batches(recipients, batch_size):
        # Skipping those already notified keeps a re-run from paying for a failed insert
        # per recipient; the unique index still settles any race between two runs.
        done = await repository.already_notified(notice.key, batch)
        pending = [rid for rid in batch if rid not in done]
        if not pending:
            continue
        users = await directory.live_users(pending)
        settings = await settings_for([u.id for u in users if u.id is not None])
        reached = [Recipient(u, settings[u.id].preferences) for u in users if u.id is not None]
        built = [(n, r) for r, n in ((r, build_notification(notice, r)) for r in reached) if n]
        # Emails first: a crash between the two writes leaves recipients without the
        # notification, whom a re-run covers, rather than notified people without email.
        await queue_emails(immediate_emails(notice, built, now=now or utcnow()))
        created += await repository.insert_new_notifications([n for n, _ in built])
    return created
