"""The grades collection's queries; grades.service keeps the rules."""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId

from app.core import db
from app.core.pagination import newest_first_page
from app.grades.models import Grade


async def count_outside(*, school_id: PydanticObjectId, low: int, high: int) -> int:
    """Grades of the school whose value lies outside low..high."""
    return await Grade.find(
        {"school_id": school_id, "$or": [{"value": {"$lt": low}}, {"value": {"$gt": high}}]}
    ).count()


async def spellings_without_subject_key() -> list[str]:
    """The distinct subject spellings of grades written before subject_key existed."""
    return [str(spelling) for spelling in await db.distinct(Grade, "subject", _NO_KEY)]


_NO_KEY: dict[str, Any] = {"subject_key": None}


async def set_subject_key(spelling: str, key: str) -> int:
    """Give every keyless grade spelled `spelling` its key; how many changed."""
    written = await db.update_many(
        Grade, {**_NO_KEY, "subject": spelling}, {"$set": {"subject_key": key}}
    )
    return written.modified


async def get(grade_id: PydanticObjectId) -> Grade | None:
    return await Grade.get(grade_id)


async def insert(grade: Grade) -> None:
    await grade.insert()


async def update(grade_id: PydanticObjectId | None, changes: dict[str, Any]) -> Grade | None:
    """The grade with `changes` set, in one atomic write; None when it is gone."""
    raw = await db.claim_one(Grade, {"_id": grade_id}, {"$set": changes})
    return Grade.model_validate(raw) if raw is not None else None


async def delete(grade_id: PydanticObjectId | None) -> None:
    await db.delete_one(Grade, {"_id": grade_id})


async def newest_first(
    query: dict[str, Any], *, limit: int, cursor: str | None
) -> tuple[list[Grade], str | None]:
    """One page of the grades matching `query`, newest date first."""
    return await newest_first_page(Grade, query, limit=limit, cursor=cursor, field="date")


async def subject_groups(match: dict[str, Any]) -> list[dict[str, Any]]:
    """Per subject key, of the grades matching `match`: the newest spelling, count,
    average, weighted sum, weight sum, and the newest value and date; by key."""
    return await db.aggregate(
        Grade,
        [
            {"$match": match},
            # Oldest first, so $last is the newest grade in the list's own order.
            {"$sort": {"date": 1, "_id": 1}},
            {
                "$group": {
                    "_id": "$subject_key",
                    "subject": {"$last": "$subject"},
                    "count": {"$sum": 1},
                    "average": {"$avg": "$value"},
                    "weighted_sum": {"$sum": {"$multiply": ["$value", "$weight"]}},
                    "weight_sum": {"$sum": "$weight"},
                    "last_value": {"$last": "$value"},
                    "last_date": {"$last": "$date"},
                }
            },
            {"$sort": {"_id": 1}},
        ],
    )
