"""The grades collection's queries; grades.service keeps the rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from app.core import db
from app.core.pagination import newest_first_page
from app.grades.models import Grade, GradeAlert


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


async def insert_batch(grades: list[Grade]) -> None:
    """Write a batch of new grades (fresh ids) in one round trip."""
    await db.insert_many_ignoring_duplicates(Grade, [g.model_dump(by_alias=True) for g in grades])


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


async def register_rows(
    match: dict[str, Any], *, then: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per student, of the grades matching `match`: the grades oldest first ({_id, date,
    value, kind, weight}) and their weighted and weight sums, each row then passed through
    the stages `then` (the student's name, from the directory)."""
    return await db.aggregate(
        Grade,
        [
            {"$match": match},
            {"$sort": {"date": 1, "_id": 1}},
            {
                "$group": {
                    "_id": "$student_id",
                    "grades": {
                        "$push": {
                            "_id": "$_id",
                            "date": "$date",
                            "value": "$value",
                            "kind": "$kind",
                            "weight": "$weight",
                        }
                    },
                    "weighted_sum": {"$sum": {"$multiply": ["$value", "$weight"]}},
                    "weight_sum": {"$sum": "$weight"},
                }
            },
            *then,
        ],
    )


# --- grade alerts ---------------------------------------------------------------------------


async def alert_of(
    *, parent_id: PydanticObjectId, student_id: PydanticObjectId
) -> GradeAlert | None:
    return await GradeAlert.find_one({"parent_id": parent_id, "student_id": student_id})


async def save_alert(alert: GradeAlert) -> GradeAlert:
    """Store the parent's rules for the child in one upsert, replacing any before."""
    fields = alert.model_dump(exclude={"id"})
    key = {"parent_id": alert.parent_id, "student_id": alert.student_id}
    try:
        raw = await db.claim_one(GradeAlert, key, {"$set": fields}, upsert=True)
    except DuplicateKeyError:
        # Two first saves raced; the unique index let one insert, so this one now updates.
        raw = await db.claim_one(GradeAlert, key, {"$set": fields})
    return GradeAlert.model_validate(raw)


async def alerts_for(student_id: PydanticObjectId) -> list[GradeAlert]:
    return await GradeAlert.find({"student_id": student_id}).to_list()


async def move_holding(alert: GradeAlert, holding: list[str], *, now: datetime) -> bool:
    """Store what holds now, only if it is still what `alert` was read with; whether it was."""
    written = await db.update_one(
        GradeAlert,
        {"_id": alert.id, "holding": alert.holding},
        {"$set": {"holding": holding, "updated_at": now}},
    )
    return written.modified > 0
