"""publish(): writing a notice's notifications (and emails) for the recipients its producer
chose, in batches, idempotently; each person's preferences pick the channels."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from beanie import PydanticObjectId

from app.auth import directory
from app.core.security import utcnow
from app.delivery.service import queue_emails
from app.notifications import repository
from app.notifications.emails import immediate_emails
from app.notifications.models import EmailDecision, Notice, Notification, Recipient
from app.notifications.service import decide_email, wants_in_app
from app.notifications.settings import settings_for

log = logging.getLogger(__name__)

FANOUT_BATCH_SIZE = 1000


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
    twice to anyone (safe to run again). Returns how many notifications it created."""
    return await deliver(notice, notice.recipients, now=now)


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
