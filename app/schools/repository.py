"""The queries of schools' collections (schools with their embedded classes, guardian
codes and links); schools' services keep the rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from beanie import PydanticObjectId

from app.core import db
from app.schools.models import GuardianCode, GuardianLink, School

# --- schools and their classes ---------------------------------------------------------------


async def update(query: dict[str, Any], update: dict[str, Any]) -> bool:
    """Apply `update` to the school matching `query` (a conditional write); whether one
    matched."""
    return (await db.update_one(School, query, update)).matched > 0


async def update_and_read(query: dict[str, Any], update: dict[str, Any]) -> School | None:
    """The school matching `query` with `update` applied, in one atomic write; None when
    none matched."""
    raw = await db.claim_one(School, query, update)
    return School.model_validate(raw) if raw is not None else None


async def pull_class(
    query: dict[str, Any], class_id: PydanticObjectId
) -> list[PydanticObjectId] | None:
    """Take the class out of the school matching `query` in one atomic write; the students
    it seated, or None when none matched."""
    before = await db.claim_one(
        School, query, {"$pull": {"classes": {"id": class_id}}}, before=True
    )
    if before is None:
        return None
    pulled = [c for c in before.get("classes", []) if c.get("id") == class_id]
    return [PydanticObjectId(s) for c in pulled for s in c.get("student_ids", [])]


async def get(school_id: PydanticObjectId) -> School | None:
    return await School.get(school_id)


async def with_one_class(query: dict[str, Any], class_id: PydanticObjectId) -> School | None:
    """The school matching `query` holding only that class (or none), without the other
    classes and their rosters: read-only, never saved back."""
    raw = await db.find_row(
        School,
        query,
        {
            "name": 1,
            "timezone": 1,
            "grade_scale": 1,
            "deleted_at": 1,
            "created_at": 1,
            "classes": {"$elemMatch": {"id": class_id}},
        },
    )
    return School.model_validate(raw) if raw is not None else None


async def any_live_class(
    condition: dict[str, Any], *, school_id: PydanticObjectId | None = None
) -> bool:
    """Whether some live school (this one, if given) has a class satisfying `condition`,
    reading only an id."""
    query: dict[str, Any] = {"deleted_at": None, "classes": {"$elemMatch": condition}}
    if school_id is not None:
        query["_id"] = school_id
    return await db.find_row(School, query, {"_id": 1}) is not None


async def seats(school_id: PydanticObjectId | None, student_id: PydanticObjectId) -> bool:
    """Whether a roster of this school (live or not) has the student, reading only an id."""
    row = await db.find_row(
        School, {"_id": school_id, "classes.student_ids": student_id}, {"_id": 1}
    )
    return row is not None


async def class_rosters_of(student_ids: Sequence[PydanticObjectId]) -> list[dict[str, Any]]:
    """The classes (id and roster only) of the live schools where any of these students sit."""
    rows = await db.find_rows(
        School,
        {"deleted_at": None, "classes.student_ids": {"$in": list(student_ids)}},
        {"classes.id": 1, "classes.student_ids": 1},
    )
    return [c for school in rows for c in school.get("classes", [])]


async def seats_of(student_id: PydanticObjectId) -> list[dict[str, Any]]:
    """The classes of live schools that seat the student: one row each, with the class's id
    and name and its school's id, name and time zone."""
    return await db.aggregate(
        School,
        [
            {"$match": {"deleted_at": None, "classes.student_ids": student_id}},
            {"$unwind": "$classes"},
            {"$match": {"classes.student_ids": student_id}},
            {
                "$project": {
                    "name": 1,
                    "timezone": 1,
                    "class_id": "$classes.id",
                    "class_name": "$classes.name",
                }
            },
        ],
    )


async def names_of(
    school_id: PydanticObjectId, class_id: PydanticObjectId
) -> tuple[str | None, str | None]:
    """The names of a school and of one of its classes, deleted ones too."""
    raw = await db.find_row(
        School, {"_id": school_id}, {"name": 1, "classes": {"$elemMatch": {"id": class_id}}}
    )
    if raw is None:
        return None, None
    classes = raw.get("classes") or []
    return raw.get("name"), (classes[0].get("name") if classes else None)


async def figures(
    school_ids: Sequence[PydanticObjectId], branches: dict[str, list[dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """Figures joined from these schools, in one round trip (see db.facets)."""
    return await db.facets(School, {"_id": {"$in": list(school_ids)}}, branches)


# --- guardian codes and links ----------------------------------------------------------------


async def redeem_code(query: dict[str, Any], update: dict[str, Any]) -> GuardianCode | None:
    """The guardian code matching `query`, changed by `update` in one atomic write (of two
    racing redemptions exactly one gets it)."""
    raw = await db.claim_one(GuardianCode, query, update, before=True)
    return GuardianCode.model_validate(raw) if raw is not None else None


async def delete_link(parent_id: PydanticObjectId, student_id: PydanticObjectId) -> bool:
    """Remove the link between them; whether there was one."""
    deleted = await db.delete_one(GuardianLink, {"parent_id": parent_id, "student_id": student_id})
    return deleted > 0


async def is_linked(parent_id: PydanticObjectId, student_id: PydanticObjectId) -> bool:
    return (
        await GuardianLink.find_one({"parent_id": parent_id, "student_id": student_id}) is not None
    )


async def links_of_parent(parent_id: PydanticObjectId) -> list[GuardianLink]:
    return await GuardianLink.find({"parent_id": parent_id}).to_list()


async def any_link(parent_id: PydanticObjectId, student_ids: Sequence[PydanticObjectId]) -> bool:
    """Whether the parent is linked to any of these students."""
    link = await GuardianLink.find_one(
        {"parent_id": parent_id, "student_id": {"$in": list(student_ids)}}
    )
    return link is not None


async def link_rows(pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of an aggregation over the guardian links."""
    return await db.aggregate(GuardianLink, pipeline)
