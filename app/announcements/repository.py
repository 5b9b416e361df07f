"""The announcements collection's queries; announcements.service keeps the rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId

from app.announcements.models import Announcement, AnnouncementStatus
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
