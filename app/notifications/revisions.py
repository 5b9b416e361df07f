"""Second thoughts about a notice: a producer revises what it told (a corrected value) or
withdraws it (what it told of is gone). Generic over topics: the producer names what the
notices are about (`source_id`) and words the notices; the engine finds who was told what.

"Told" means an email about the source went out (or is going out), or a digest carried it.
Emails not yet on their way are taken back, so someone not told yet hears only the final
word, as if nothing had changed; someone told hears one notice of the change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from beanie import PydanticObjectId

from app.auth import directory
from app.core.security import utcnow
from app.delivery.service import cancel_unsent, queue_emails, reached_by
from app.notifications import repository
from app.notifications.emails import immediate_emails
from app.notifications.fanout import deliver
from app.notifications.models import EmailDecision, Notice, Notification, Recipient
from app.notifications.settings import settings_for


async def _told(
    source_id: PydanticObjectId, standing: Sequence[Notification]
) -> set[PydanticObjectId]:
    emailed = await reached_by(source_id)
    return emailed | {n.recipient_id for n in standing if n.digested_at is not None}


async def revise(first: Notice, correction: Notice, *, now: datetime | None = None) -> int:
    """Replace what was told about `first.source_id`: each standing notification is updated
    in place (the inbox keeps one item, read or not), with `first`'s words for whoever was
    not told yet and `correction`'s for whoever was. Emails not yet sent are taken back;
    immediate email goes again, as `first` or `correction` says, and a digest that already
    carried it carries the correction. Recipients of `first` without a notification get one.
    Idempotent; returns how many notifications it created."""
    source_id = first.source_id
    if source_id is None or correction.source_id != source_id:
        raise ValueError("a revision names what it revises: both notices need its source_id")
    now = now or utcnow()
    await cancel_unsent(source_id)
    standing = await repository.of_source(source_id)
    told = await _told(source_id, standing)
    users = {u.id: u for u in await directory.live_users([n.recipient_id for n in standing])}
    settings = await settings_for([uid for uid in users if uid is not None])
    changes = []
    mail: dict[bool, list[tuple[Notification, Recipient]]] = {False: [], True: []}
    for notification in standing:
        user = users.get(notification.recipient_id)
        if user is None or user.id is None:
            continue
        was_told = notification.recipient_id in told
        notice = correction if was_told else first
        title, body = notice.words_for(user.locale.value)
        update = {
            "event_key": notice.key,
            "title": title,
            "body": body,
            "data": notice.data,
            "digested_at": None,
        }
        changes.append(({"_id": notification.id}, {"$set": update}))
        if notification.email_decision == EmailDecision.immediate:
            revised = notification.model_copy(update=update)
            mail[was_told].append((revised, Recipient(user, settings[user.id].preferences)))
    await repository.rewrite(changes)
    await queue_emails(
        immediate_emails(first, mail[False], now=now)
        + immediate_emails(correction, mail[True], now=now)
    )
    reached = {n.recipient_id for n in standing}
    return await deliver(first, [r for r in first.recipients if r not in reached], now=now)


async def withdraw(notice: Notice, *, now: datetime | None = None) -> int:
    """Withdraw what was told about `notice.source_id`: its notifications leave inboxes,
    unread counts and digests, emails not yet sent are taken back, and whoever was told
    gets `notice` (by email, as their preferences say; never as a new inbox item).
    Idempotent; returns how many notifications of `notice` it created."""
    source_id = notice.source_id
    if source_id is None:
        raise ValueError("a withdrawal names what it withdraws: the notice needs its source_id")
    now = now or utcnow()
    await cancel_unsent(source_id)
    standing = await repository.of_source(source_id)
    told = sorted(await _told(source_id, standing))
    await repository.withdraw([n.id for n in standing if n.id is not None], now=now)
    # Not about the source itself: a second run must neither take back nor withdraw it.
    telling = dataclasses.replace(notice, in_app=False, source_id=None, recipients=told)
    return await deliver(telling, told, now=now)
