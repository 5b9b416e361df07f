"""The queries of auth's collections (users, sessions, refresh and account tokens);
auth's services and its directory keep the rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId

from app.auth.models import AccountToken, AuthSession, RefreshToken, User
from app.core import db

# --- users ---------------------------------------------------------------------------------


async def update_user(query: dict[str, Any], update: dict[str, Any]) -> bool:
    """Apply `update` to the user matching `query`; whether one matched."""
    return (await db.update_one(User, query, update)).matched > 0


async def update_live_user(user_id: PydanticObjectId, changes: dict[str, Any]) -> User | None:
    """The live user with `changes` set, in one atomic write; None when there is none.
    DuplicateKeyError when the changes take another account's address."""
    raw = await db.claim_one(User, {"_id": user_id, "deleted_at": None}, {"$set": changes})
    return User.model_validate(raw) if raw is not None else None


async def update_users(query: dict[str, Any], update: dict[str, Any]) -> None:
    await db.update_many(User, query, update)


async def user_rows(
    query: dict[str, Any],
    projection: dict[str, Any],
    *,
    sort: list[tuple[str, int]] | None = None,
    limit: int = 0,
) -> list[dict[str, Any]]:
    """The raw user records matching `query`, only the `projection`'s fields."""
    return await db.find_rows(User, query, projection, sort=sort, limit=limit)


async def user_row(query: dict[str, Any], projection: dict[str, Any]) -> dict[str, Any] | None:
    return await db.find_row(User, query, projection)


async def distinct_of_users(field: str, query: dict[str, Any]) -> list[Any]:
    return await db.distinct(User, field, query)


async def user_aggregate(pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of an aggregation over the users collection (figures: counts by role)."""
    return await db.aggregate(User, pipeline)


# --- sessions and refresh tokens -----------------------------------------------------------


async def revoke_session(session_id: PydanticObjectId, now: datetime) -> None:
    await db.update_one(
        AuthSession, {"_id": session_id, "revoked_at": None}, {"$set": {"revoked_at": now}}
    )


async def revoke_sessions_of(user_id: PydanticObjectId, now: datetime) -> None:
    await db.update_many(
        AuthSession, {"user_id": user_id, "revoked_at": None}, {"$set": {"revoked_at": now}}
    )


async def user_in_session(session_id: PydanticObjectId, user_id: PydanticObjectId) -> User | None:
    """The user, if this session of theirs is still open: one round trip."""
    rows = await db.aggregate(
        AuthSession,
        [
            {"$match": {"_id": session_id, "user_id": user_id, "revoked_at": None}},
            {
                "$lookup": {
                    "from": User.get_collection_name(),
                    "localField": "user_id",
                    "foreignField": "_id",
                    "as": "user",
                }
            },
        ],
    )
    if not rows or not rows[0]["user"]:
        return None
    return User.model_validate(rows[0]["user"][0])


async def spend_refresh_token(token_hash: str, now: datetime) -> RefreshToken | None:
    """Mark the live refresh token with this hash spent and return it as it was; None when
    there is none (unknown, spent or expired). Of two racing callers exactly one gets it."""
    raw = await db.claim_one(
        RefreshToken,
        {"token_hash": token_hash, "spent_at": None, "expires_at": {"$gt": now}},
        {"$set": {"spent_at": now}},
        before=True,
    )
    return RefreshToken.model_validate(raw) if raw is not None else None


# --- account tokens (verification, password reset) ---------------------------------------


async def redeem_account_token(query: dict[str, Any], now: datetime) -> AccountToken | None:
    """Mark the unused account token matching `query` used, in one atomic write."""
    raw = await db.claim_one(AccountToken, {**query, "used_at": None}, {"$set": {"used_at": now}})
    return AccountToken.model_validate(raw) if raw is not None else None


async def burn_account_tokens(
    user_id: PydanticObjectId, purposes: Sequence[str], now: datetime
) -> None:
    await db.update_many(
        AccountToken,
        {"user_id": user_id, "purpose": {"$in": list(purposes)}, "used_at": None},
        {"$set": {"used_at": now}},
    )


async def insert_account_tokens(tokens: Sequence[AccountToken]) -> None:
    """Write a batch of freshly drawn tokens in one insert."""
    documents = [t.model_dump(by_alias=True, exclude={"id"}) for t in tokens]
    await db.insert_many_ignoring_duplicates(AccountToken, documents)


async def insert_users(documents: list[dict[str, Any]]) -> int:
    """Write new accounts in one unordered insert, skipping addresses already taken."""
    return await db.insert_many_ignoring_duplicates(User, documents)


async def users_matching(query: dict[str, Any]) -> list[User]:
    """Whole user documents matching `query`, in one query."""
    return [User.model_validate(row) for row in await db.find_rows(User, query)]
