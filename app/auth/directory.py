"""What other domains read about users, through auth, which owns the users collection:
live users by id or email, members of a school, names, and the aggregation stages that
figures and relation checks compose; and the fields user records once held for another
domain, handed over once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from beanie import PydanticObjectId

from app.auth.models import Role, User, normalize_email
from app.core.db import aggregate, collection, having_joined, joined


async def live_users(user_ids: Sequence[PydanticObjectId]) -> list[User]:
    """The live users among these ids (a caller's batch), in one query."""
    return await User.find({"_id": {"$in": list(user_ids)}, "deleted_at": None}).to_list()


async def member_ids(school_id: PydanticObjectId, role: Role) -> list[PydanticObjectId]:
    """Ids of the school's live members in this role, without loading their records."""
    cursor = collection(User).find(
        {"school_ids": school_id, "role": role, "deleted_at": None}, {"_id": 1}
    )
    return [PydanticObjectId(row["_id"]) async for row in cursor]


# Fields user records held for notifications before it kept them in its own collection;
# only these may be handed over and dropped.
MOVED_OUT_FIELDS = ("preferences", "digest_due", "next_digest_at")


async def users_with_moved_out_fields(
    *, after: PydanticObjectId | None, limit: int
) -> list[dict[str, Any]]:
    """Up to `limit` user records, in id order after `after`, that still hold any of the
    MOVED_OUT_FIELDS: their _id and those fields."""
    query: dict[str, Any] = {"$or": [{field: {"$exists": True}} for field in MOVED_OUT_FIELDS]}
    if after is not None:
        query["_id"] = {"$gt": after}
    cursor = collection(User).find(
        query,
        {"_id": 1, **{field: 1 for field in MOVED_OUT_FIELDS}},
        sort=[("_id", 1)],
        limit=limit,
    )
    return [row async for row in cursor]


async def drop_moved_out_fields(user_ids: Sequence[PydanticObjectId]) -> None:
    """Forget the MOVED_OUT_FIELDS of these user records, once their new owner has a copy."""
    await collection(User).update_many(
        {"_id": {"$in": list(user_ids)}}, {"$unset": {field: "" for field in MOVED_OUT_FIELDS}}
    )


async def live_user_ids(user_ids: Sequence[PydanticObjectId]) -> set[PydanticObjectId]:
    """Which of these ids (a caller's page) are live users, reading only their ids."""
    cursor = collection(User).find({"_id": {"$in": list(user_ids)}, "deleted_at": None}, {"_id": 1})
    return {PydanticObjectId(row["_id"]) async for row in cursor}


async def live_user_by_email(email: str) -> User | None:
    """The live account with this address, if any."""
    return await User.find_one({"email": normalize_email(email), "deleted_at": None})


async def live_role(user_id: PydanticObjectId) -> Role | None:
    """The role of the live user with this id (None when there is none), reading only it."""
    row = await collection(User).find_one({"_id": user_id, "deleted_at": None}, {"role": 1})
    return Role(row["role"]) if row is not None else None


async def full_names(user_ids: Sequence[PydanticObjectId]) -> dict[PydanticObjectId, str]:
    """The names of these users, deleted ones too (who gave a grade stays who gave it),
    reading only their names."""
    cursor = collection(User).find({"_id": {"$in": list(user_ids)}}, {"full_name": 1})
    return {PydanticObjectId(row["_id"]): row["full_name"] async for row in cursor}


async def live_user_joined(
    user_id: PydanticObjectId,
    *,
    role: Role | None = None,
    stages: Sequence[dict[str, Any]],
    joined: Sequence[str],
) -> tuple[User, dict[str, Any]] | None:
    """The live user with this id (and role, if given), and what a higher domain joins to it
    from its own collections, in one round trip: `stages` ($lookup and $addFields over that
    domain's collections, ending with a $project that drops what they looked up) add the
    fields named in `joined`, which come back beside the user."""
    match: dict[str, Any] = {"_id": user_id, "deleted_at": None}
    if role is not None:
        match["role"] = role.value
    pipeline = [{"$match": match}, *stages]
    rows = await aggregate(User, pipeline)
    if not rows:
        return None
    row = rows[0]
    extra = {name: row.pop(name, None) for name in joined}
    return User.model_validate(row), extra


async def live_school_ids(user_ids: Sequence[PydanticObjectId]) -> set[PydanticObjectId]:
    """The schools any of these live users (a parent's children: a few) belong to, reading
    only those."""
    found = await collection(User).distinct(
        "school_ids", {"_id": {"$in": list(user_ids)}, "deleted_at": None}
    )
    return {PydanticObjectId(school_id) for school_id in found}


async def live_members_joined(
    school_ids: Sequence[PydanticObjectId], role: Role, *, stages: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """What a higher domain's `stages` ($lookup into its own collections, $group) make of the
    ids of the live members in this role of these schools, in one round trip: their
    records never leave the server."""
    match = {"role": role.value, "school_ids": {"$in": list(school_ids)}, "deleted_at": None}
    return await aggregate(User, [{"$match": match}, {"$project": {"_id": 1}}, *stages])


# --- users in figures: stages another layer composes into one aggregation ---------------


def member_stages(*, role: Role | None = None) -> list[dict[str, Any]]:
    """From documents whose `_id` is a school id: that school's live members (in `role`),
    one row per member and school."""
    match: dict[str, Any] = {"deleted_at": None}
    if role is not None:
        match["role"] = role.value
    return joined(User, local_field="_id", foreign_field="school_ids", match=match)


def members_by_role_stages() -> list[dict[str, Any]]:
    """From school documents: how many live members those schools have in each role, a
    member of several of them counted once. Rows: {_id: role, count}."""
    return [
        *member_stages(),
        {"$group": {"_id": "$_id", "role": {"$first": "$role"}}},
        {"$group": {"_id": "$role", "count": {"$sum": 1}}},
    ]


def counts_by_role(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """The rows of members_by_role_stages as a count for every role."""
    counts = {role.value: 0 for role in Role}
    for row in rows:
        counts[row["_id"]] = row["count"]
    return counts


def live_user_records_stages(id_field: str) -> list[dict[str, Any]]:
    """Replace each document with the live user its `id_field` names (none if deleted)."""
    return joined(User, local_field=id_field, foreign_field="_id", match={"deleted_at": None})


def live_user_stages(id_field: str) -> list[dict[str, Any]]:
    """Keep the documents whose `id_field` names a live (not soft-deleted) user."""
    return having_joined(
        User, local_field=id_field, foreign_field="_id", match={"deleted_at": None}
    )
