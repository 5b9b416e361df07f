"""Every driver detail lives here: client choice, Beanie init, embedded persistence.

A later move to Beanie 2 / PyMongo's async client should touch only this file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from beanie import Document, PydanticObjectId, init_beanie
from bson import ObjectId
from bson.errors import InvalidId
from mongomock_motor import AsyncMongoMockClient, AsyncMongoMockCollection
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase
from pydantic import BeforeValidator, Field
from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError
from pymongo.errors import DuplicateKeyError as DuplicateKeyError  # re-exported

from app.core import embedded as _embedded  # noqa: F401  (installs the mongomock patches)
from app.core.config import Settings
from app.core.errors import NotFound

log = logging.getLogger(__name__)


def collection(model: type[Document]) -> Any:
    """The driver's collection behind a document class. The one place that names Motor's
    API, so a move to PyMongo's async client (Beanie 2) changes this line, not every service."""
    return model.get_motor_collection()


async def aggregate(model: type[Document], pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every row of an aggregation. Motor returns the cursor at once, PyMongo's async client
    after an await: the difference stays here."""
    rows: list[dict[str, Any]] = await collection(model).aggregate(pipeline).to_list(None)
    return rows


async def _aggregate_beside_the_loop(
    documents: AsyncMongoMockCollection, pipeline: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """An embedded aggregation run in a thread: mongomock computes it whole, in Python, when
    it is asked, and figures over a school's year of notifications take long enough to hold
    up every other request of `dev` if run on its event loop. Writes go on meanwhile, as
    they do beside a MongoDB aggregation; one that changed a document the thread was
    copying (Python then stops the copy) has the aggregation run again, here."""
    try:
        cursor = await asyncio.to_thread(documents.aggregate, pipeline)
    except RuntimeError as exc:
        if "changed size during iteration" not in str(exc):
            raise
        cursor = documents.aggregate(pipeline)
    rows: list[dict[str, Any]] = await cursor.to_list(None)
    return rows


def parse_object_id(value: str, *, what: str = "Resource") -> PydanticObjectId:
    """A malformed id names nothing that exists, so it is a 404, not a 422."""
    try:
        return PydanticObjectId(ObjectId(value))
    except (InvalidId, TypeError) as exc:
        raise NotFound(f"{what} not found") from exc


DUPLICATE_KEY = 11000


async def insert_many_ignoring_duplicates(
    model: type[Document], documents: list[dict[str, Any]]
) -> int:
    """One unordered insert_many; rows a unique index refuses (already written by an earlier
    or parallel run) are skipped. Returns how many were written; other errors raise."""
    if not documents:
        return 0
    try:
        result = await collection(model).insert_many(documents, ordered=False)
    except BulkWriteError as exc:
        # A write-concern error means what was written may not be durable: never success.
        if exc.details.get("writeConcernErrors") or any(
            e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])
        ):
            raise
        return int(exc.details.get("nInserted", 0))
    return len(result.inserted_ids)


def _object_id_text(value: Any) -> Any:
    # PydanticObjectId turns null into a fresh id; only a 24-hex-digit string names a document.
    if not isinstance(value, str) or not ObjectId.is_valid(value):
        raise ValueError("must be a 24-character hexadecimal id")
    return value


# An id in a request body: malformed is a 422 naming the field (in a path it is a 404).
ObjectIdField = Annotated[
    PydanticObjectId,
    BeforeValidator(_object_id_text),
    Field(json_schema_extra={"pattern": "^[0-9a-fA-F]{24}$"}),
]


def make_client(settings: Settings) -> Any:
    if settings.mongodb_url:
        return AsyncIOMotorClient(
            settings.mongodb_url, tz_aware=True, uuidRepresentation="standard"
        )
    return AsyncMongoMockClient(tz_aware=True)


def is_embedded(client: Any) -> bool:
    return isinstance(client, AsyncMongoMockClient)


async def init_database(
    client: Any, db_name: str, document_models: Sequence[type[Document]]
) -> AsyncIOMotorDatabase:
    database = client[db_name]
    await init_beanie(database=database, document_models=list(document_models))
    return database


async def ping(client: Any) -> None:
    await client.admin.command("ping")


def hosts_of(url: str) -> str:
    """The host part of a connection string, without the user and password before it."""
    after_scheme = url.partition("://")[2]
    return after_scheme.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    # pymongo appends its timeouts and the whole topology; the first clause says what failed.
    return text.split(" (configured timeouts", 1)[0].split(", Timeout:", 1)[0][:200]


def check_mongodb(url: str, *, timeout_seconds: float) -> str | None:
    """None when MongoDB at `url` answers a ping in time, else why not (no password in it)."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    timeout_ms = int(timeout_seconds * 1000)
    try:
        client: MongoClient[dict[str, Any]] = MongoClient(
            url,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms,
        )
    except (PyMongoError, ValueError) as exc:  # a URL pymongo cannot use, e.g. a bad option
        return _first_line(exc)
    try:
        client.admin.command("ping")
    except PyMongoError as exc:
        return _first_line(exc)
    finally:
        client.close()
    return None


async def claim_one(
    model: type[Document],
    query: dict[str, Any],
    update: dict[str, Any],
    *,
    sort: list[tuple[str, int]] | None = None,
    before: bool = False,
    upsert: bool = False,
) -> dict[str, Any] | None:
    """One atomic find-and-update returning the document as changed (as it was, `before`);
    None when none matches. Two callers racing for the same document: exactly one gets it.
    `upsert`: none matching, one is made from the query's equalities and the update."""
    raw: dict[str, Any] | None = await collection(model).find_one_and_update(
        query,
        update,
        sort=sort,
        upsert=upsert,
        return_document=ReturnDocument.BEFORE if before else ReturnDocument.AFTER,
    )
    return raw


@dataclass(frozen=True)
class Written:
    """What an update did: documents its filter matched, and those it changed."""

    matched: int
    modified: int


async def update_one(
    model: type[Document], query: dict[str, Any], update: dict[str, Any], *, upsert: bool = False
) -> Written:
    """Apply `update` to the first document matching `query` (or insert one, `upsert`)."""
    result = await collection(model).update_one(query, update, upsert=upsert)
    return Written(int(result.matched_count), int(result.modified_count))


async def update_many(
    model: type[Document], query: dict[str, Any], update: dict[str, Any]
) -> Written:
    """Apply `update` to every document matching `query`."""
    result = await collection(model).update_many(query, update)
    return Written(int(result.matched_count), int(result.modified_count))


async def delete_one(model: type[Document], query: dict[str, Any]) -> int:
    """Delete the first document matching `query`; how many went (0 or 1)."""
    result = await collection(model).delete_one(query)
    return int(result.deleted_count)


async def delete_many(model: type[Document], query: dict[str, Any]) -> int:
    """Delete every document matching `query`; how many went."""
    result = await collection(model).delete_many(query)
    return int(result.deleted_count)


async def find_rows(
    model: type[Document],
    query: dict[str, Any],
    projection: dict[str, Any] | None = None,
    *,
    sort: list[tuple[str, int]] | None = None,
    limit: int = 0,
) -> list[dict[str, Any]]:
    """The raw documents matching `query` (only the `projection`'s fields), for reads that
    need no whole model: ids, a name, one embedded class."""
    cursor = collection(model).find(query, projection, sort=sort, limit=limit)
    rows: list[dict[str, Any]] = await cursor.to_list(None)
    return rows


async def find_row(
    model: type[Document],
    query: dict[str, Any],
    projection: dict[str, Any] | None = None,
    *,
    sort: list[tuple[str, int]] | None = None,
) -> dict[str, Any] | None:
    """The first raw document matching `query` in `sort` order (only the `projection`'s
    fields), or None."""
    row: dict[str, Any] | None = await collection(model).find_one(query, projection, sort=sort)
    return row


async def count(model: type[Document], query: dict[str, Any]) -> int:
    """How many documents match `query`."""
    return int(await collection(model).count_documents(query))


async def distinct(model: type[Document], field: str, query: dict[str, Any]) -> list[Any]:
    """The distinct values of `field` among the documents matching `query`."""
    values: list[Any] = await collection(model).distinct(field, query)
    return values


async def claim_many(
    model: type[Document],
    query: dict[str, Any],
    update: dict[str, Any],
    *,
    token_field: str,
    token: str,
    sort: list[tuple[str, int]],
    limit: int,
) -> list[dict[str, Any]]:
    """Up to `limit` documents matching `query`, each changed by `update` and marked with
    `token` in `token_field`, in three round trips whatever `limit` is: a find of their ids,
    one update_many that applies only to those still matching `query`, and a read of the
    ones that now carry the token. Two callers racing for the same documents each get a
    share, never the same one: the update re-checks `query` document by document."""
    documents = collection(model)
    cursor = documents.find(query, {"_id": 1}, sort=sort, limit=limit)
    ids = [row["_id"] for row in await cursor.to_list(None)]
    if not ids:
        return []
    marked = {**update, "$set": {**update.get("$set", {}), token_field: token}}
    # These ids matched `query`, so any _id condition in it holds for them: theirs replaces it.
    await documents.update_many({**query, "_id": {"$in": ids}}, marked)
    claimed: list[dict[str, Any]] = await documents.find(
        {"_id": {"$in": ids}, token_field: token}, sort=sort
    ).to_list(None)
    return claimed


async def update_each(
    model: type[Document],
    changes: Sequence[tuple[dict[str, Any], dict[str, Any]]],
    *,
    upsert: bool = False,
) -> int:
    """Apply many (filter, update) pairs, each to at most one document, in one unordered
    bulk write (`upsert`: inserting the ones no document matches); returns how many
    documents changed or were inserted."""
    if not changes:
        return 0
    documents = collection(model)
    operation = _EmbeddedUpdateOne if isinstance(documents, AsyncMongoMockCollection) else UpdateOne
    result = await documents.bulk_write(
        [operation(match, update, upsert=upsert) for match, update in changes], ordered=False
    )
    return int(result.modified_count) + int(result.upserted_count)


class _EmbeddedUpdateOne:
    """UpdateOne as mongomock's bulk_write takes it: PyMongo's own passes it an argument
    (`sort`) that mongomock does not know."""

    def __init__(
        self, match: dict[str, Any], update: dict[str, Any], *, upsert: bool = False
    ) -> None:
        self.match = match
        self.update = update
        self.upsert = upsert

    def _add_to_bulk(self, bulk: Any) -> None:
        bulk.add_update(self.match, self.update, multi=False, upsert=self.upsert)


# --- reads that join collections, for figures composed in one aggregation ------------------
#
# Only plain $lookup (localField/foreignField), $unwind, $match, $facet, $group and
# $replaceRoot: real MongoDB runs them and so does mongomock, which has neither $unionWith
# nor $lookup with a pipeline. A $lookup directly followed by an $unwind of its field, and a
# $match on that field, is folded by MongoDB into one indexed query per input document, so
# the joined documents stream through and are never gathered into one array (16 MB cap).

_JOINED = "_joined"


def _joined_condition(match: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not match:
        return []
    assert not any(key.startswith("$") for key in match), "match on fields only"
    return [{"$match": {f"{_JOINED}.{key}": value for key, value in match.items()}}]


def _lookup(model: type[Document], local_field: str, foreign_field: str) -> list[dict[str, Any]]:
    return [
        *gathered(model, local_field=local_field, foreign_field=foreign_field, into=_JOINED),
        {"$unwind": f"${_JOINED}"},
    ]


def joined(
    model: type[Document],
    *,
    local_field: str,
    foreign_field: str,
    match: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Stages that replace each document with the `model` documents whose `foreign_field`
    equals its `local_field` (one row each), kept only when they satisfy `match`."""
    return [
        *_lookup(model, local_field, foreign_field),
        *_joined_condition(match),
        {"$replaceRoot": {"newRoot": f"${_JOINED}"}},
    ]


def joined_field(
    model: type[Document], *, local_field: str, foreign_field: str, field: str, into: str
) -> list[dict[str, Any]]:
    """Stages that set `into` on each document to `field` of the `model` document whose
    `foreign_field` equals its `local_field` (left unset when there is none)."""
    return [
        *_lookup(model, local_field, foreign_field),
        {"$unwind": {"path": f"${_JOINED}", "preserveNullAndEmptyArrays": True}},
        {"$addFields": {into: f"${_JOINED}.{field}"}},
        {"$project": {_JOINED: 0}},
    ]


def gathered(
    model: type[Document], *, local_field: str, foreign_field: str, into: str
) -> list[dict[str, Any]]:
    """A stage that sets `into` on each document to the list of `model` documents whose
    `foreign_field` equals its `local_field` (empty when there are none): for the few
    documents each row has, as a school's subjects or a student's guardian links."""
    return [
        {
            "$lookup": {
                "from": model.get_collection_name(),
                "localField": local_field,
                "foreignField": foreign_field,
                "as": into,
            }
        }
    ]


def having_joined(
    model: type[Document],
    *,
    local_field: str,
    foreign_field: str,
    match: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Stages that keep each document once per `model` document whose `foreign_field`
    equals its `local_field` and that satisfies `match` (so once, when at most one can)."""
    return [
        *_lookup(model, local_field, foreign_field),
        *_joined_condition(match),
        {"$project": {_JOINED: 0}},
    ]


async def facets(
    model: type[Document], match: dict[str, Any], branches: dict[str, list[dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """Several figures in one round trip: each branch runs on the `_id`s of the `model`
    documents matching `match` (the anchor: usually a few documents the branches join from),
    and its rows come back under its name."""
    pipeline = [{"$match": match}, {"$project": {"_id": 1}}, {"$facet": branches}]
    documents = collection(model)
    if isinstance(documents, AsyncMongoMockCollection):
        rows = await _aggregate_beside_the_loop(documents, pipeline)
    else:
        rows = await aggregate(model, pipeline)
    found = rows[0] if rows else {}
    return {name: list(found.get(name, [])) for name in branches}
