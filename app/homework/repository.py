"""The homework collection's queries; homework.service keeps the rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from beanie import PydanticObjectId

from app.core import db
from app.core.pagination import next_cursor, oldest_first_filter
from app.homework.models import Homework


async def get(homework_id: PydanticObjectId) -> Homework | None:
    return await Homework.get(homework_id)


async def insert(homework: Homework) -> None:
    await homework.insert()


async def update(homework_id: PydanticObjectId | None, changes: dict[str, Any]) -> Homework | None:
    """The homework with `changes` set, in one atomic write; None when it is gone."""
    raw = await db.claim_one(Homework, {"_id": homework_id}, {"$set": changes})
    return Homework.model_validate(raw) if raw is not None else None


async def delete(homework_id: PydanticObjectId | None) -> None:
    await db.delete_one(Homework, {"_id": homework_id})


SUBJECTS_INTO = "subjects"


async def due_in_classes(
    class_ids: Sequence[PydanticObjectId],
    due: dict[str, Any],
    *,
    limit: int,
    cursor: str | None,
    names_stage: list[dict[str, Any]],
) -> tuple[list[Homework], str | None, dict[PydanticObjectId, list[dict[str, Any]]]]:
    """One page of the homework of these classes due within `due`, soonest first, the next
    cursor, and the subjects of the page's schools as `names_stage` (the subjects domain's,
    into SUBJECTS_INTO) reads them: one aggregation."""
    query: dict[str, Any] = {"class_id": {"$in": list(class_ids)}}
    if due:
        query["due"] = due
    after = oldest_first_filter("due", cursor)
    rows = await db.aggregate(
        Homework,
        [
            {"$match": {"$and": [query, after]} if after else query},
            {"$sort": {"due": 1, "_id": 1}},
            {"$limit": limit + 1},
            {
                "$facet": {
                    "items": [{"$match": {}}],
                    "subjects": [{"$group": {"_id": "$school_id"}}, *names_stage],
                }
            },
        ],
    )
    found = rows[0] if rows else {"items": [], "subjects": []}
    items, next_page = next_cursor(
        [Homework.model_validate(row) for row in found["items"]], limit, "due"
    )
    subjects = {row["_id"]: list(row.get(SUBJECTS_INTO) or []) for row in found["subjects"]}
    return items, next_page, subjects
