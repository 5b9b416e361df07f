"""The queries of schools' collections (schools with their embedded classes, guardian
codes and links); schools' services keep the rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId

from app.auth import directory
from app.auth.models import Role
from app.core import db
from app.core.pagination import newest_first_page
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


async def live_of(school_ids: Sequence[PydanticObjectId]) -> list[School]:
    """The live schools among these, in one round trip."""
    rows = await db.find_rows(School, {"_id": {"$in": list(school_ids)}, "deleted_at": None})
    return [School.model_validate(row) for row in rows]


USER_INTO = "user"


async def live_schools_and_user(
    school_ids: Sequence[PydanticObjectId],
    *,
    user_id: PydanticObjectId,
    user_stages: list[dict[str, Any]],
) -> tuple[list[School], list[dict[str, Any]]]:
    """In one round trip: the live schools among these, and under USER_INTO the user as
    `user_stages` (auth's, from the field `user_id`) read them; the $facet keeps one row
    when no school matches."""
    rows = await db.aggregate(
        School,
        [
            {"$match": {"_id": {"$in": list(school_ids)}, "deleted_at": None}},
            {"$facet": {"schools": [{"$match": {}}]}},
            {"$addFields": {"user_id": user_id}},
            *user_stages,
        ],
    )
    found = rows[0] if rows else {}
    schools = [School.model_validate(row) for row in found.get("schools") or []]
    return schools, list(found.get(USER_INTO) or [])


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


def _seat_stages(student_id: PydanticObjectId) -> list[dict[str, Any]]:
    return [
        {"$match": {"deleted_at": None, "classes.student_ids": student_id}},
        {"$unwind": "$classes"},
        {"$match": {"classes.student_ids": student_id}},
        {
            "$project": {
                "name": 1,
                "timezone": 1,
                "class_id": "$classes.id",
                "class_name": "$classes.name",
                "teacher_ids": "$classes.teachers.teacher_id",
            }
        },
    ]


async def seats_of(student_id: PydanticObjectId) -> list[dict[str, Any]]:
    """The classes of live schools that seat the student: one row each, with the class's id,
    name and teachers and its school's id, name and time zone."""
    return await db.aggregate(School, _seat_stages(student_id))


STUDENT_INTO = "student"


async def student_seats_and_links(
    student_id: PydanticObjectId, *, student_stages: list[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """In one round trip: the student's seats (rows as `seats_of`), the parent ids of their
    guardian links (`links`) and, under STUDENT_INTO, the student as `student_stages` (auth's,
    from the field `student_id`) read them. One row even when the student sits nowhere:
    the $facet anchors what follows it."""
    rows = await db.aggregate(
        School,
        [
            *_seat_stages(student_id),
            {"$facet": {"seats": [{"$match": {}}]}},
            {"$addFields": {"student_id": student_id}},
            *student_stages,
            *db.gathered(
                GuardianLink, local_field="student_id", foreign_field="student_id", into="links"
            ),
            {"$project": {"seats": 1, "links.parent_id": 1, STUDENT_INTO: 1}},
        ],
    )
    found = rows[0] if rows else {}
    return {name: list(found.get(name) or []) for name in ("seats", "links", STUDENT_INTO)}


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


async def class_rows(
    schools: dict[str, Any], classes: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """One row per class (of the live schools matching `schools`, and matching `classes`
    when given), in one round trip: {school_id, school_name, class_id, class_name, teachers,
    students: the roster's size}, by school and class name. Rosters themselves stay behind."""
    class_match = {f"classes.{field}": value for field, value in (classes or {}).items()}
    return await db.aggregate(
        School,
        [
            {"$match": {**schools, "deleted_at": None, **class_match}},
            {"$unwind": "$classes"},
            *([{"$match": class_match}] if class_match else []),
            {
                "$project": {
                    "_id": 0,
                    "school_id": "$_id",
                    "school_name": "$name",
                    "class_id": "$classes.id",
                    "class_name": "$classes.name",
                    "teachers": {"$ifNull": ["$classes.teachers", []]},
                    "students": {"$size": {"$ifNull": ["$classes.student_ids", []]}},
                }
            },
            {"$sort": {"school_name": 1, "class_name": 1, "class_id": 1}},
        ],
    )


async def class_names(class_ids: Sequence[PydanticObjectId]) -> dict[PydanticObjectId, str]:
    """The names of these classes, of deleted schools too, reading only classes' ids and
    names."""
    rows = await db.find_rows(
        School,
        {"classes.id": {"$in": list(class_ids)}},
        {"classes.id": 1, "classes.name": 1},
    )
    wanted = set(class_ids)
    return {
        PydanticObjectId(c["id"]): c["name"]
        for row in rows
        for c in row.get("classes", [])
        if c.get("id") in wanted
    }


async def guardian_links_page(
    student_id: PydanticObjectId, *, limit: int, cursor: str | None
) -> tuple[list[GuardianLink], str | None]:
    """One page of a student's guardian links, most recently linked first."""
    return await newest_first_page(
        GuardianLink, {"student_id": student_id}, limit=limit, cursor=cursor
    )


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


async def code_by_hash(code_hash: str) -> GuardianCode | None:
    """The guardian code with this hash, whatever its state."""
    return await GuardianCode.find_one({"code_hash": code_hash})


async def add_claimant(query: dict[str, Any], user_id: PydanticObjectId) -> bool:
    """Add an account waiting to confirm its address to the code matching `query`; whether
    one matched."""
    changed = await db.update_one(GuardianCode, query, {"$addToSet": {"claimants": user_id}})
    return changed.matched > 0


async def codes_claimed_by(user_id: PydanticObjectId, now: datetime) -> list[GuardianCode]:
    """The good, unspent codes this account asked for from the join page."""
    return await GuardianCode.find(
        {"claimants": user_id, "redeemed_at": None, "expires_at": {"$gt": now}}
    ).to_list()


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


async def insert_codes(codes: Sequence[GuardianCode]) -> set[PydanticObjectId]:
    """Write codes (ids given) in one unordered insert, skipping those whose id or hash is
    taken; the ids of the ones this call wrote (their hash is theirs)."""
    if not codes:
        return set()
    await db.insert_many_ignoring_duplicates(
        GuardianCode, [c.model_dump(by_alias=True) for c in codes]
    )
    ours = {
        "_id": {"$in": [c.id for c in codes]},
        "code_hash": {"$in": [c.code_hash for c in codes]},
    }
    rows = await db.find_rows(GuardianCode, ours, {"_id": 1})
    return {PydanticObjectId(row["_id"]) for row in rows}


async def linked_pairs(
    parent_ids: Sequence[PydanticObjectId], student_ids: Sequence[PydanticObjectId]
) -> set[tuple[PydanticObjectId, PydanticObjectId]]:
    """Which of these parents are linked to which of these students, in one query."""
    if not parent_ids or not student_ids:
        return set()
    rows = await db.find_rows(
        GuardianLink,
        {"parent_id": {"$in": list(parent_ids)}, "student_id": {"$in": list(student_ids)}},
        {"parent_id": 1, "student_id": 1},
    )
    return {(row["parent_id"], row["student_id"]) for row in rows}


async def update_each(changes: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> int:
    """Several conditional writes to schools in one bulk write; how many changed one."""
    return await db.update_each(School, changes)


async def codes_taken(code_ids: Sequence[PydanticObjectId]) -> set[PydanticObjectId]:
    """Which of these ids a guardian code already has, in one query."""
    if not code_ids:
        return set()
    rows = await db.find_rows(GuardianCode, {"_id": {"$in": list(code_ids)}}, {"_id": 1})
    return {PydanticObjectId(row["_id"]) for row in rows}


async def linked_parent_ids(
    school_ids: Sequence[PydanticObjectId], *, after: PydanticObjectId | None, links: int
) -> tuple[list[PydanticObjectId], bool]:
    """The parents of up to `links` links to a live student of these schools, in parent
    id order after `after` (the links are walked in that order on their unique index,
    each checked against its student), and whether more such links may follow."""
    start: list[dict[str, Any]] = [{"$match": {"parent_id": {"$gt": after}}}] if after else []
    rows = await db.aggregate(
        GuardianLink,
        [
            *start,
            {"$sort": {"parent_id": 1, "student_id": 1}},
            *directory.live_member_of_stages("student_id", school_ids, Role.student),
            {"$limit": links},
            {"$project": {"_id": 0, "parent_id": 1}},
        ],
    )
    found = [PydanticObjectId(row["parent_id"]) for row in rows]
    return list(dict.fromkeys(found)), len(rows) == links
