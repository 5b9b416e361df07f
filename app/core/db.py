"""Every driver detail lives here: client choice, Beanie init, embedded persistence.

A later move to Beanie 2 / PyMongo's async client should touch only this file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from beanie import Document, PydanticObjectId, init_beanie
from bson import ObjectId, json_util
from bson.errors import InvalidId
from mongomock_motor import AsyncMongoMockClient
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase
from pydantic import BeforeValidator, Field
from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError
from pymongo.errors import DuplicateKeyError as DuplicateKeyError  # re-exported

from app.core.config import Settings
from app.core.errors import NotFound

log = logging.getLogger(__name__)

SNAPSHOT_FILE = "database.json"


def parse_object_id(value: str, *, what: str = "Resource") -> PydanticObjectId:
    """A malformed id names nothing that exists, so it is a 404, not a 422."""
    try:
        return PydanticObjectId(ObjectId(value))
    except (InvalidId, TypeError) as exc:
        raise NotFound(f"{what} not found") from exc


DUPLICATE_KEY = 11000


async def insert_many_ignoring_duplicates(collection: Any, documents: list[dict[str, Any]]) -> int:
    """One unordered insert_many; rows a unique index refuses (already written by an earlier
    or parallel run) are skipped. Returns how many were written; other errors raise."""
    if not documents:
        return 0
    try:
        result = await collection.insert_many(documents, ordered=False)
    except BulkWriteError as exc:
        if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
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


class EmbeddedSnapshot:
    """Keeps the in-memory database in one JSON file so `schoolbell dev` survives restarts.

    Saved every few seconds when something changed and once more on a clean stop,
    so a crash loses at most the last interval of writes.
    """

    def __init__(self, database: Any, directory: Path, interval_seconds: float = 2.0) -> None:
        self.database = database
        self.path = directory / SNAPSHOT_FILE
        self.interval_seconds = interval_seconds
        self._last_digest: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def load(self) -> int:
        if not self.path.exists():
            return 0
        collections = json_util.loads(self.path.read_text(encoding="utf-8"))
        restored = 0
        for name, documents in collections.items():
            if documents:
                await self.database[name].insert_many(documents)
                restored += len(documents)
        self._last_digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        return restored

    async def save(self) -> bool:
        collections: dict[str, list[dict[str, Any]]] = {}
        for name in sorted(await self.database.list_collection_names()):
            collections[name] = await self.database[name].find({}).sort("_id", 1).to_list(None)
        payload = json_util.dumps(collections, json_options=json_util.CANONICAL_JSON_OPTIONS)
        digest = hashlib.sha256(payload.encode()).hexdigest()
        if digest == self._last_digest:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(payload, encoding="utf-8")
        os.replace(temporary, self.path)
        self._last_digest = digest
        return True

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_seconds)
            try:
                await self.save()
            except Exception:  # a failed save must not stop the next one
                log.exception("could not save the embedded database snapshot")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.save()


async def claim_one(
    model: type[Document],
    query: dict[str, Any],
    update: dict[str, Any],
    *,
    sort: list[tuple[str, int]] | None = None,
) -> dict[str, Any] | None:
    """One atomic find-and-update returning the document as changed; None when none matches.
    Two callers racing for the same document: exactly one gets it."""
    raw: dict[str, Any] | None = await model.get_motor_collection().find_one_and_update(
        query, update, sort=sort, return_document=ReturnDocument.AFTER
    )
    return raw
