"""What other domains read about users, through auth, which owns the users collection:
live users by id or email, members of schools, names, the aggregation stages that the
figures of /stats compose; and the fields user records once held for another domain,
handed over once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from beanie import PydanticObjectId

from app.auth import repository
from app.auth.models import Role, User, normalize_email
from app.core.db import gathered, having_joined, joined, joined_field


async def live_users(user_ids: Sequence[PydanticObjectId]) -> list[User]:
    """The live users among these ids (a caller's batch), in one query."""
    return await User.find({"_id": {"$in": list(user_ids)}, "deleted_at": None}).to_list()


async def member_ids(school_id: PydanticObjectId, role: Role) -> list[PydanticObjectId]:
    """Ids of the school's live members in this role, without loading their records."""
    rows = await repository.user_rows(
        {"school_ids": school_id, "role": role, "deleted_at": None}, {"_id": 1}
    )
    return [PydanticObjectId(row["_id"]) for row in rows]


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
    return await repository.user_rows(
        query,
        {"_id": 1, **{field: 1 for field in MOVED_OUT_FIELDS}},
        sort=[("_id", 1)],
        limit=limit,
    )


async def drop_moved_out_fields(user_ids: Sequence[PydanticObjectId]) -> None:
    """Forget the MOVED_OUT_FIELDS of these user records, once their new owner has a copy."""
    await repository.update_users(
        {"_id": {"$in": list(user_ids)}}, {"$unset": {field: "" for field in MOVED_OUT_FIELDS}}
    )


async def live_user_ids(user_ids: Sequence[PydanticObjectId]) -> set[PydanticObjectId]:
    """Which of these ids (a caller's page) are live users, reading only their ids."""
    rows = await repository.user_rows(
        {"_id": {"$in": list(user_ids)}, "deleted_at": None}, {"_id": 1}
    )
    return {PydanticObjectId(row["_id"]) for row in rows}


async def live_user_by_email(email: str) -> User | None:
    """The live account with this address, if any."""
    return await User.find_one({"email": normalize_email(email), "deleted_at": None})


async def live_role(user_id: PydanticObjectId) -> Role | None:
    """The role of the live user with this id (None when there is none), reading only it."""
    row = await repository.user_row({"_id": user_id, "deleted_at": None}, {"role": 1})
    return Role(row["role"]) if row is not None else None


async def full_names(user_ids: Sequence[PydanticObjectId]) -> dict[PydanticObjectId, str]:
    """The names of these users, deleted ones too (who gave a grade stays who gave it),
    reading only their names."""
    rows = await repository.user_rows({"_id": {"$in": list(user_ids)}}, {"full_name": 1})
    return {PydanticObjectId(row["_id"]): row["full_name"] for row in rows}


async def live_school_ids(user_ids: Sequence[PydanticObjectId]) -> set[PydanticObjectId]:
    """The schools any of these live users (a parent's children: a few) belong to, reading
    only those."""
    found = await repository.distinct_of_users(
        "school_ids", {"_id": {"$in": list(user_ids)}, "deleted_at": None}
    )
    return {PydanticObjectId(school_id) for school_id in found}


async def live_member_ids(
    school_ids: Sequence[PydanticObjectId], role: Role
) -> list[PydanticObjectId]:
    """Ids of the live members in this role of any of these schools, each once."""
    rows = await repository.user_rows(
        {"role": role.value, "school_ids": {"$in": list(school_ids)}, "deleted_at": None},
        {"_id": 1},
    )
    return [PydanticObjectId(row["_id"]) for row in rows]


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


def live_member_of_stages(
    id_field: str, school_ids: Sequence[PydanticObjectId], role: Role
) -> list[dict[str, Any]]:
    """Keep the documents whose `id_field` names a live member in `role` of any of these
    schools (once per such member)."""
    return having_joined(
        User,
        local_field=id_field,
        foreign_field="_id",
        match={"deleted_at": None, "role": role.value, "school_ids": {"$in": list(school_ids)}},
    )


def live_user_stages(id_field: str) -> list[dict[str, Any]]:
    """Keep the documents whose `id_field` names a live (not soft-deleted) user."""
    return having_joined(
        User, local_field=id_field, foreign_field="_id", match={"deleted_at": None}
    )


def name_stages(id_field: str, *, into: str) -> list[dict[str, Any]]:
    """Set `into` to the name of the user `id_field` names, deleted ones too (as
    full_names reads them), for a list that shows people's names in one aggregation."""
    return joined_field(
        User, local_field=id_field, foreign_field="_id", field="full_name", into=into
    )


def user_stages(id_field: str, *, into: str) -> list[dict[str, Any]]:
    """Set `into` to the record of the user `id_field` names (a list of one, empty when
    there is none), for a question that needs a person beside rows of its own in one
    aggregation; `live_user_in` reads it back."""
    return gathered(User, local_field=id_field, foreign_field="_id", into=into)


def live_user_in(rows: Sequence[dict[str, Any]]) -> User | None:
    """The user user_stages found, unless there was none or it is deleted."""
    user = User.model_validate(rows[0]) if rows else None
    return None if user is None or user.is_deleted else user
