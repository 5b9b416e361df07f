"""The outbox's queries; delivery.service keeps the rules (leases, retries, verdicts)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId

from app.core import db
from app.core.pagination import newest_first_page
from app.delivery.models import Email, EmailStatus


async def by_key(key: str) -> Email | None:
    return await Email.find_one({"idempotency_key": key})


async def insert(email: Email) -> None:
    """Write one email (DuplicateKeyError when its idempotency key is taken)."""
    await email.insert()


async def insert_new(emails: Sequence[Email]) -> int:
    """Write a batch with one unordered insert, skipping keys already there; how many went."""
    documents = [e.model_dump(by_alias=True, exclude={"id"}) for e in emails]
    return await db.insert_many_ignoring_duplicates(Email, documents)


async def claim(
    query: dict[str, Any], update: dict[str, Any], *, token: str, limit: int
) -> list[Email]:
    """Up to `limit` emails matching `query`, longest due first, changed by `update` and
    marked with the lease `token` (see db.claim_many)."""
    claimed = await db.claim_many(
        Email,
        query,
        update,
        token_field="lease_token",
        token=token,
        sort=[("next_attempt_at", 1)],
        limit=limit,
    )
    return [Email.model_validate(raw) for raw in claimed]


async def settle(changes: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> int:
    """Apply each (filter, update) verdict in one bulk write; how many emails changed."""
    return await db.update_each(Email, changes)


async def update_all(query: dict[str, Any], update: dict[str, Any]) -> int:
    """Apply `update` to every email matching `query`; how many changed."""
    return (await db.update_many(Email, query, update)).modified


async def count(query: dict[str, Any]) -> int:
    return await db.count(Email, query)


async def counts_by_status(statuses: Sequence[EmailStatus]) -> dict[str, int]:
    """How many emails are in each of these statuses (absent: none)."""
    rows = await db.aggregate(
        Email,
        [
            {"$match": {"status": {"$in": [status.value for status in statuses]}}},
            {"$group": {"_id": "$status", "count": {"$sum": 1}}},
        ],
    )
    return {row["_id"]: row["count"] for row in rows}


async def earliest(query: dict[str, Any], field: str) -> datetime | None:
    """The earliest value of `field` among the emails matching `query`."""
    row = await db.find_row(Email, query, {field: 1}, sort=[(field, 1)])
    return row[field] if row is not None else None


async def rows(query: dict[str, Any], projection: dict[str, Any]) -> list[dict[str, Any]]:
    """The raw emails matching `query`, only the `projection`'s fields."""
    return await db.find_rows(Email, query, projection)


async def newest_first(
    query: dict[str, Any], *, limit: int, cursor: str | None
) -> tuple[list[Email], str | None]:
    return await newest_first_page(Email, query, limit=limit, cursor=cursor)


async def find_in(scope: dict[str, Any], email_id: PydanticObjectId) -> Email | None:
    return await Email.find_one({**scope, "_id": email_id})


async def claim_one(query: dict[str, Any], update: dict[str, Any]) -> Email | None:
    """The one email matching `query`, changed by `update` in the same atomic write."""
    raw = await db.claim_one(Email, query, update)
    return Email.model_validate(raw) if raw is not None else None


async def delete_all(query: dict[str, Any]) -> int:
    """Delete every email matching `query`; how many went."""
    return await db.delete_many(Email, query)


async def recipients(query: dict[str, Any]) -> set[PydanticObjectId]:
    """The distinct recipients of the emails matching `query`."""
    return {PydanticObjectId(r) for r in await db.distinct(Email, "recipient_id", query)}
