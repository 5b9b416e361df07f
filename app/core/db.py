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
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from beanie import Document, PydanticObjectId, init_beanie
from bson import ObjectId, json_util
from bson.errors import InvalidId
from mongomock_motor import AsyncMongoMockClient
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase
from pydantic import BeforeValidator, Field
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


class UnreadableSnapshot(Exception):
    """The embedded database file is not a snapshot this code wrote (corrupt, truncated)."""


def read_snapshot(path: Path) -> dict[str, list[dict[str, Any]]]:
    try:
        collections = json_util.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise UnreadableSnapshot(str(exc)[:200] or type(exc).__name__) from exc
    if not isinstance(collections, dict) or not all(
        isinstance(documents, list) and all(isinstance(d, dict) for d in documents)
        for documents in collections.values()
    ):
        raise UnreadableSnapshot("it is JSON, but not collections of documents")
    for name, documents in collections.items():
        ids = [document.get("_id") for document in documents]
        if None in ids or len({str(i) for i in ids}) != len(ids):
            raise UnreadableSnapshot(f"documents of {name} lack an _id or share one")
    return collections


def move_aside_if_unreadable(directory: Path, *, now: datetime) -> tuple[Path, str] | None:
    """A snapshot that cannot be loaded is renamed (never overwritten) so the next start is
    clean and the file is still there to repair; returns where it went and why."""
    path = directory / SNAPSHOT_FILE
    if not path.exists():
        return None
    try:
        read_snapshot(path)
    except UnreadableSnapshot as exc:
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        moved = path.with_name(f"{path.stem}.unreadable-{stamp}{path.suffix}")
        os.replace(path, moved)
        return moved, str(exc)
    return None


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
        collections = read_snapshot(self.path)
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
