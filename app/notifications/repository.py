"""The notifications domain's queries on its own collections (notifications, subscriptions,
notification_settings); services hold the rules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId, SortDirection
from pymongo.errors import DuplicateKeyError

from app.auth.models import Role
from app.core import db
from app.core.db import insert_many_ignoring_duplicates
from app.notifications.models import (
    DigestDue,
    EmailDecision,
    Fanout,
    Notification,
    NotificationSettings,
    Subscription,
    TargetType,
)
from app.notifications.topics import EmailFrequency

# Bounds one `$in` list of a query, whatever the caller hands in.
ID_BATCH = 1000


def _batches(ids: Sequence[PydanticObjectId], size: int) -> Iterable[list[PydanticObjectId]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


# --- notifications -----------------------------------------------------------------------


async def already_notified(
    event_key: str, recipient_ids: Sequence[PydanticObjectId]
) -> set[PydanticObjectId]:
    """Who among these already has this event's notification."""
    return set(
        await db.distinct(
            Notification,
            "recipient_id",
            {"event_key": event_key, "recipient_id": {"$in": list(recipient_ids)}},
        )
    )


async def insert_new_notifications(notifications: list[Notification]) -> int:
    """Insert those not there yet (by event and recipient); how many were new."""
    documents = [n.model_dump(by_alias=True, exclude={"id"}) for n in notifications]
    return await insert_many_ignoring_duplicates(Notification, documents)


async def mark_read(
    *, recipient_id: PydanticObjectId, notification_id: PydanticObjectId, now: datetime
) -> bool:
    """Set the read time of one inbox notification unless it is set; whether it exists."""
    owned = {"_id": notification_id, "recipient_id": recipient_id, "in_app": True}
    written = await db.update_one(
        Notification, {**owned, "read_at": None}, {"$set": {"read_at": now}}
    )
    return written.matched > 0 or await Notification.find_one(owned) is not None


async def mark_all_read(query: dict[str, Any], *, now: datetime) -> int:
    return (await db.update_many(Notification, query, {"$set": {"read_at": now}})).modified


async def pending_digest(
    *, recipient_id: PydanticObjectId, period: EmailFrequency, until: datetime, limit: int
) -> list[Notification]:
    """The oldest notifications waiting for this person's digest of `period`."""
    return (
        await Notification.find(
            {
                "recipient_id": recipient_id,
                "email_decision": EmailDecision.digest,
                "digest_frequency": period,
                "digested_at": None,
                "created_at": {"$lte": until},
            }
        )
        .sort([("created_at", SortDirection.ASCENDING), ("_id", SortDirection.ASCENDING)])
        .limit(limit)
        .to_list()
    )


async def mark_digested(notification_ids: list[PydanticObjectId], *, now: datetime) -> None:
    await db.update_many(
        Notification,
        {"_id": {"$in": notification_ids}, "digested_at": None},
        {"$set": {"digested_at": now}},
    )


async def move_to_digest(
    *, recipient_id: PydanticObjectId, topic: str, frequency: EmailFrequency
) -> None:
    """What a topic's old digest had not sent yet goes into its new one."""
    await db.update_many(
        Notification,
        {
            "recipient_id": recipient_id,
            "topic": topic,
            "email_decision": EmailDecision.digest,
            "digested_at": None,
            "digest_frequency": {"$ne": frequency},
        },
        {"$set": {"digest_frequency": frequency}},
    )


async def of_source(source_id: PydanticObjectId) -> list[Notification]:
    """The standing notifications about `source_id` (not withdrawn)."""
    return await Notification.find({"source_id": source_id, "withdrawn_at": None}).to_list()


async def withdraw(notification_ids: list[PydanticObjectId], *, now: datetime) -> int:
    """Take these notifications out of inboxes, unread counts and digests for good."""
    written = await db.update_many(
        Notification,
        {"_id": {"$in": notification_ids}, "withdrawn_at": None},
        {"$set": {"withdrawn_at": now, "in_app": False, "email_decision": EmailDecision.none}},
    )
    return written.modified


async def rewrite(changes: list[tuple[dict[str, Any], dict[str, Any]]]) -> int:
    """Apply each (filter, update) to one notification, in one bulk write."""
    return await db.update_each(Notification, changes)


# --- subscriptions -----------------------------------------------------------------------


async def followers(
    *,
    target_type: TargetType,
    target_ids: Sequence[PydanticObjectId],
    topic: str,
    role: Role,
) -> list[Subscription]:
    """Subscriptions of people of `role` to these targets for `topic`."""
    found: list[Subscription] = []
    for batch in _batches(list(target_ids), ID_BATCH):
        found.extend(
            await Subscription.find(
                {
                    "target_type": target_type,
                    "target_id": {"$in": batch},
                    "subscriber_role": role,
                    "topics": topic,
                }
            ).to_list()
        )
    return found


async def add_topic_to_guardian_subscriptions(topic: str) -> int:
    """Add `topic` to every parent's subscription to a student that lacks it, in one write;
    how many changed."""
    written = await db.update_many(
        Subscription,
        {
            "subscriber_role": Role.parent,
            "target_type": TargetType.student,
            "topics": {"$ne": topic},
        },
        {"$addToSet": {"topics": topic}},
    )
    return written.modified


# --- settings ----------------------------------------------------------------------------


async def save_settings(
    settings_id: PydanticObjectId, *, preferences: dict[str, Any], due: DigestDue
) -> None:
    await db.update_one(
        NotificationSettings,
        {"_id": settings_id},
        {
            "$set": {
                "preferences": preferences,
                "digest_due": due.model_dump(),
                "next_digest_at": due.earliest(),
            }
        },
        upsert=True,
    )


async def forget_schedules(user_ids: list[PydanticObjectId]) -> None:
    await db.update_many(
        NotificationSettings,
        {"_id": {"$in": user_ids}},
        {"$set": {"digest_due": DigestDue().model_dump(), "next_digest_at": None}},
    )


async def advance_due(
    settings_id: PydanticObjectId,
    *,
    period: EmailFrequency,
    was: datetime,
    following: datetime,
    earliest: datetime | None,
) -> None:
    """Move one digest's due time, only if it is still the time read (a preference change
    in between is not undone)."""
    await db.update_one(
        NotificationSettings,
        {"_id": settings_id, f"digest_due.{period.value}": was},
        {"$set": {f"digest_due.{period.value}": following, "next_digest_at": earliest}},
    )


DueSettings = tuple[datetime, PydanticObjectId]


async def due_settings(
    *, now: datetime, after: DueSettings | None, limit: int
) -> list[DueSettings]:
    """(when due, id) of settings with a digest due by `now`, in that order after `after`:
    the order of the index on (next_digest_at, _id), so a page reads `limit` entries of it
    however many are due."""
    query: dict[str, Any] = {"next_digest_at": {"$lte": now}}
    if after is not None:
        due_at, settings_id = after
        query["$or"] = [
            {"next_digest_at": {"$gt": due_at}},
            {"next_digest_at": due_at, "_id": {"$gt": settings_id}},
        ]
    rows = await db.find_rows(
        NotificationSettings,
        query,
        {"_id": 1, "next_digest_at": 1},
        sort=[("next_digest_at", 1), ("_id", 1)],
        limit=limit,
    )
    return [(row["next_digest_at"], PydanticObjectId(row["_id"])) for row in rows]


async def insert_settings_ignoring_existing(documents: list[dict[str, Any]]) -> int:
    return await insert_many_ignoring_duplicates(NotificationSettings, documents)


# --- notices delivered in chunks ---------------------------------------------------------


async def insert_fanout(fanout: Fanout) -> Fanout | None:
    """Record a notice's fan-out to an audience; None when that one is recorded already
    (its unique key), which `fanout_to` then returns."""
    try:
        await fanout.insert()
    except DuplicateKeyError:
        return None
    return fanout


async def fanout_to(notice_key: str, audience: str) -> Fanout | None:
    return await Fanout.find_one({"notice_key": notice_key, "audience": audience})


async def fanout_by_id(fanout_id: PydanticObjectId) -> Fanout | None:
    return await Fanout.find_one({"_id": fanout_id})


async def mark_chunk_done(fanout_id: PydanticObjectId, chunk: int) -> Fanout | None:
    """Count the chunk done (once, however often it runs); the fan-out as it is now."""
    raw = await db.claim_one(Fanout, {"_id": fanout_id}, {"$addToSet": {"done": chunk}})
    return Fanout.model_validate(raw) if raw is not None else None
