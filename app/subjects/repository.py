"""The queries of the subjects collection; the service keeps the rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from beanie import PydanticObjectId

from app.core import db
from app.subjects.models import Subject


async def of_school(school_id: PydanticObjectId) -> list[dict[str, Any]]:
    """A school's subjects in code order: one round trip, served by the unique index."""
    return await db.find_rows(
        Subject,
        {"school_id": school_id},
        {"_id": 0, "code": 1, "key": 1, "names": 1},
        sort=[("school_id", 1), ("key", 1)],
    )


async def add_missing(subjects: Sequence[Subject]) -> int:
    """Insert the subjects the school does not have yet; ones it has (or a parallel call
    adds first) are left as they are. One round trip."""
    return await db.insert_many_ignoring_duplicates(
        Subject, [subject.model_dump(by_alias=True, exclude={"id"}) for subject in subjects]
    )


async def rename(school_id: PydanticObjectId, names: dict[str, tuple[str, dict[str, str]]]) -> int:
    """Set each key's spelling and names: one bulk write."""
    return await db.update_each(
        Subject,
        [
            ({"school_id": school_id, "key": key}, {"$set": {"code": code, "names": by_language}})
            for key, (code, by_language) in names.items()
        ],
    )


async def remove_all_but(school_id: PydanticObjectId, keys: Sequence[str]) -> int:
    return await db.delete_many(Subject, {"school_id": school_id, "key": {"$nin": list(keys)}})


def names_gathered(*, school_field: str, into: str) -> list[dict[str, Any]]:
    """A stage that sets `into` on each row to the subjects of the school its `school_field`
    names, served by the unique index as `of_school` is."""
    return db.gathered(Subject, local_field=school_field, foreign_field="school_id", into=into)
