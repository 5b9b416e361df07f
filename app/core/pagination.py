"""Cursor paging, newest first, shared by every list route."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from beanie import Document, SortDirection
from bson import ObjectId
from bson.errors import InvalidId
from fastapi import Query
from pydantic import BaseModel

from app.core.errors import Unprocessable

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

T = TypeVar("T")
DocumentT = TypeVar("DocumentT", bound=Document)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int
    cursor: str | None


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=512, description="next_cursor of the previous page; none for the first"),
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def encode_cursor(sort_value: datetime, document_id: ObjectId) -> str:
    raw = json.dumps([sort_value.isoformat(), str(document_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, ObjectId]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        sort_text, id_text = json.loads(base64.urlsafe_b64decode(padded.encode()))
        sort_value = datetime.fromisoformat(sort_text)
        # The driver converts to UTC; an offset pushing the year past 1..9999 must be a 422.
        if sort_value.tzinfo is not None:
            sort_value = sort_value.astimezone(UTC)
        return sort_value, ObjectId(id_text)
    except (
        ValueError,
        TypeError,
        OverflowError,
        binascii.Error,
        InvalidId,
        json.JSONDecodeError,
    ) as exc:
        raise Unprocessable("Malformed cursor") from exc


def newest_first_filter(field: str, cursor: str | None) -> dict[str, Any]:
    """Condition selecting the rows after `cursor` in (field desc, _id desc) order."""
    if cursor is None:
        return {}
    sort_value, last_id = decode_cursor(cursor)
    return {
        "$or": [
            {field: {"$lt": sort_value}},
            {field: sort_value, "_id": {"$lt": last_id}},
        ]
    }


def newest_first_sort(field: str) -> list[tuple[str, SortDirection]]:
    return [(field, SortDirection.DESCENDING), ("_id", SortDirection.DESCENDING)]


def next_cursor(rows: list[Any], limit: int, field: str) -> tuple[list[Any], str | None]:
    """Callers fetch limit+1 rows; an extra row means there is a next page."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(getattr(last, field), last.id)


async def newest_first_page(
    model: type[DocumentT],
    query: dict[str, Any],
    *,
    limit: int,
    cursor: str | None,
    field: str = "created_at",
) -> tuple[list[DocumentT], str | None]:
    """One page of `model` matching `query`, newest first by `field`, and the next cursor."""
    after = newest_first_filter(field, cursor)
    # $and, so a query with its own $or keeps it beside the cursor's.
    combined = {"$and": [query, after]} if after else query
    rows = await model.find(combined).sort(newest_first_sort(field)).limit(limit + 1).to_list()
    return next_cursor(rows, limit, field)


def oldest_first_filter(field: str, cursor: str | None) -> dict[str, Any]:
    """Condition selecting the rows after `cursor` in (field asc, _id asc) order."""
    if cursor is None:
        return {}
    sort_value, last_id = decode_cursor(cursor)
    return {
        "$or": [
            {field: {"$gt": sort_value}},
            {field: sort_value, "_id": {"$gt": last_id}},
        ]
    }


async def oldest_first_page(
    model: type[DocumentT],
    query: dict[str, Any],
    *,
    limit: int,
    cursor: str | None,
    field: str,
) -> tuple[list[DocumentT], str | None]:
    """One page of `model` matching `query`, earliest `field` first (what is due soonest),
    and the next cursor."""
    after = oldest_first_filter(field, cursor)
    combined = {"$and": [query, after]} if after else query
    order = [(field, SortDirection.ASCENDING), ("_id", SortDirection.ASCENDING)]
    rows = await model.find(combined).sort(order).limit(limit + 1).to_list()
    return next_cursor(rows, limit, field)
