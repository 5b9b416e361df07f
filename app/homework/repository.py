"""The homework collection's queries; homework.service keeps the rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from beanie import PydanticObjectId

from app.core import db
from app.core.pagination import oldest_first_page
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


async def due_in_classes(
    class_ids: Sequence[PydanticObjectId],
    due: dict[str, Any],
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[Homework], str | None]:
    """One page of the homework of these classes due within `due`, soonest first."""
    query: dict[str, Any] = {"class_id": {"$in": list(class_ids)}}
    if due:
        query["due"] = due
    return await oldest_first_page(Homework, query, limit=limit, cursor=cursor, field="due")
