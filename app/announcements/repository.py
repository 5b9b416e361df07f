"""The announcements collection's queries; announcements.service keeps the rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId, SortDirection

from app.announcements.models import Acknowledgement, Announcement, AnnouncementStatus
from app.core import db
from app.core.pagination import newest_first_page, newest_first_sort
from app.core.security import utcnow


async def by_idempotency_scope(scope: str) -> Announcement | None:
    return await Announcement.find_one({"idempotency_scope": scope})


async def insert(announcement: Announcement) -> None:
    """Write a new announcement (DuplicateKeyError when its idempotency scope is taken)."""
    await announcement.insert()


async def get(announcement_id: PydanticObjectId) -> Announcement | None:
    return await Announcement.get(announcement_id)


async def cancel(announcement_id: PydanticObjectId | None) -> None:
    """Cancel it whatever its state (its school is gone)."""
    await db.update_one(
        Announcement,
        {"_id": announcement_id},
        {"$set": {"status": AnnouncementStatus.cancelled, "cancelled_at": utcnow()}},
    )


async def cancel_scheduled(announcement_id: PydanticObjectId | None) -> Announcement | None:
    """Cancel it if it is still scheduled, in one atomic write; None when it was not."""
    raw = await db.claim_one(
        Announcement,
        {"_id": announcement_id, "status": AnnouncementStatus.scheduled},
        {"$set": {"status": AnnouncementStatus.cancelled, "cancelled_at": utcnow()}},
    )
    return Announcement.model_validate(raw) if raw is not None else None


async def mark_published(
    announcement_id: PydanticObjectId | None, *, recipients: int, published_at: datetime
) -> None:
    await db.update_one(
        Announcement,
        {"_id": announcement_id},
        {
            "$set": {
                "status": AnnouncementStatus.published,
                "recipients": recipients,
                "published_at": published_at,
            }
        },
    )


async def claim_for_publishing(condition: dict[str, Any], *, now: datetime) -> str | None:
    """The id of one announcement matching `condition`, moved to `publishing` in the same
    atomic write (so two beats never both take it); None when none matches."""
    claimed = await db.claim_one(
        Announcement,
        condition,
        {"$set": {"status": AnnouncementStatus.publishing, "publishing_since": now}},
    )
    return str(claimed["_id"]) if claimed is not None else None


async def figures(
    announcement_id: PydanticObjectId | None, branches: dict[str, list[dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """Figures joined from one announcement, in one round trip (see db.facets)."""
    return await db.facets(Announcement, {"_id": announcement_id}, branches)


async def figures_of(
    announcement_ids: Sequence[PydanticObjectId | None], branches: dict[str, list[dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """Figures joined from several announcements, in one round trip (see db.facets)."""
    return await db.facets(Announcement, {"_id": {"$in": list(announcement_ids)}}, branches)


async def newest_first(
    query: dict[str, Any], *, limit: int, cursor: str | None
) -> tuple[list[Announcement], str | None]:
    return await newest_first_page(Announcement, query, limit=limit, cursor=cursor)


async def newest_authored(
    page: dict[str, Any], author_id: PydanticObjectId, *, limit: int
) -> list[Announcement]:
    """Up to `limit` announcements of `page` written by this author, newest first."""
    return (
        await Announcement.find({"$and": [page, {"author_id": author_id}]})
        .sort(newest_first_sort("created_at"))
        .limit(limit)
        .to_list()
    )


async def newest_kept(
    page: dict[str, Any], keep: list[dict[str, Any]], *, limit: int
) -> list[Announcement]:
    """Up to `limit` announcements of `page`, newest first, each kept by the stages `keep`
    (which see its `_event_key`, the key its notifications carry), until the page is full."""
    rows = await db.aggregate(
        Announcement,
        [
            {"$match": page},
            {"$sort": {"created_at": -1, "_id": -1}},
            {"$addFields": {"_event_key": {"$concat": [EVENT_KEY_PREFIX, {"$toString": "$_id"}]}}},
            *keep,
            {"$limit": limit},
            {"$project": {"_event_key": 0}},
        ],
    )
    return [Announcement.model_validate(row) for row in rows]


EVENT_KEY_PREFIX = "announcement:"


# --- acknowledgements --------------------------------------------------------------------


async def add_expected_acks(
    announcement_id: PydanticObjectId, user_ids: list[PydanticObjectId]
) -> int:
    """One pending acknowledgement per person; those already there (a fan-out run again)
    are kept as they are. Returns how many were new."""
    rows = [
        {"announcement_id": announcement_id, "user_id": user_id, "acknowledged_at": None}
        for user_id in user_ids
    ]
    return await db.insert_many_ignoring_duplicates(Acknowledgement, rows)


async def mark_acknowledged(
    announcement_id: PydanticObjectId, user_id: PydanticObjectId, *, now: datetime
) -> Acknowledgement | None:
    """The person's acknowledgement, set now unless it already was (the first time stays);
    None when they were not asked. The write is conditional: two clicks at once set it once."""
    mine = {"announcement_id": announcement_id, "user_id": user_id}
    raw = await db.claim_one(
        Acknowledgement, {**mine, "acknowledged_at": None}, {"$set": {"acknowledged_at": now}}
    )
    if raw is not None:
        return Acknowledgement.model_validate(raw)
    return await ack_of(announcement_id, user_id)


async def ack_of(
    announcement_id: PydanticObjectId, user_id: PydanticObjectId
) -> Acknowledgement | None:
    return await Acknowledgement.find_one({"announcement_id": announcement_id, "user_id": user_id})


async def acks_after(
    announcement_id: PydanticObjectId, after: PydanticObjectId | None, *, limit: int
) -> list[Acknowledgement]:
    """Up to `limit` of the people asked, in the order they were written, after `after`."""
    query: dict[str, Any] = {"announcement_id": announcement_id}
    if after is not None:
        query["_id"] = {"$gt": after}
    return (
        await Acknowledgement.find(query)
        .sort([("_id", SortDirection.ASCENDING)])
        .limit(limit)
        .to_list()
    )


async def all_acks(announcement_id: PydanticObjectId) -> list[Acknowledgement]:
    """Everyone asked, in the order they were asked (an export reads them all)."""
    return (
        await Acknowledgement.find({"announcement_id": announcement_id})
        .sort([("_id", SortDirection.ASCENDING)])
        .to_list()
    )


async def pending_ack_user_ids(announcement_id: PydanticObjectId) -> list[PydanticObjectId]:
    rows = await db.find_rows(
        Acknowledgement,
        {"announcement_id": announcement_id, "acknowledged_at": None},
        {"user_id": 1},
        sort=[("_id", 1)],
    )
    return [PydanticObjectId(row["user_id"]) for row in rows]


def ack_count_stages() -> list[dict[str, Any]]:
    """From documents whose `_id` is an announcement id: how many were asked to acknowledge
    it and how many have. Rows: none or one {asked, acknowledged}."""
    return [
        *db.joined(Acknowledgement, local_field="_id", foreign_field="announcement_id"),
        {
            "$group": {
                "_id": None,
                "asked": {"$sum": 1},
                "acknowledged": {"$sum": {"$cond": [{"$gt": ["$acknowledged_at", None]}, 1, 0]}},
            }
        },
    ]


async def claim_reminder(
    announcement_id: PydanticObjectId | None, *, now: datetime, not_since: datetime
) -> bool:
    """Mark the announcement reminded now unless it was at or after `not_since`, in one
    atomic write: of two calls at once, exactly one gets True."""
    claimed = await db.claim_one(
        Announcement,
        {
            "_id": announcement_id,
            "$or": [{"last_reminded_at": None}, {"last_reminded_at": {"$lt": not_since}}],
        },
        {"$set": {"last_reminded_at": now}},
    )
    return claimed is not None
