"""The embedded database of `schoolbell dev`: mongomock kept on disk as a journal of every
write and snapshots, and the patches that make mongomock fast and faithful enough for it.

Imported by app/core/db.py (the driver seam), which installs the patches on import.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import bson
from bson.codec_options import CodecOptions
from bson.errors import InvalidBSON
from mongomock.collection import Collection as MongoMockCollection
from mongomock.helpers import patch_datetime_awareness_in_document
from pymongo.errors import DuplicateKeyError as DuplicateKeyError  # re-exported

from app.core import embedded_groups, embedded_indexes, embedded_joins
from app.core.embedded_legacy import LEGACY_SNAPSHOT_FILE, read_snapshot
from app.core.errors import StorageUnavailable
from app.core.journal import (
    JOURNAL_PREFIX as JOURNAL_PREFIX,  # re-exported
)
from app.core.journal import (
    SNAPSHOT_FILE as SNAPSHOT_FILE,  # re-exported
)
from app.core.journal import (
    Damage,
    Journal,
    MovedAside,
    fold,
    merged,
    segments,
)
from app.core.mongomock_speedups import (
    by_id_first,
    checked_before,
    install_linear_unwind,
    remember_checked,
    unique_keys,
)

log = logging.getLogger(__name__)


# --- the embedded database of `schoolbell dev`: a journal of every write, and snapshots ------
#
# mongomock keeps the database in memory. Every document it inserts, changes or deletes is
# appended to a journal file as it happens (on the caller's thread, before the write
# returns: acknowledged writes survive a crash of the process); a background thread folds
# the journal into a snapshot now and then, reading only files, so saving never waits on
# nor blocks the event loop. Start-up reads the snapshot and the journal into mongomock's
# store directly: documents written once already passed the unique indexes.

# The journal is synced to the disk this often (a crash of the process loses nothing; a
# power cut at most this much).
FSYNC_EVERY_SECONDS = 1.0
# A journal is folded into the snapshot after this long, or when it grows past this size.
COMPACT_EVERY_SECONDS = 30.0
COMPACT_AT_BYTES = 64 * 1024 * 1024

# After a failed save, the next try comes this soon rather than a whole interval later.
RETRY_SAVE_SECONDS = 5.0

# mongomock keeps datetimes naive, in UTC: decoded so, they are what it would have stored.
_AS_STORED: CodecOptions[dict[str, Any]] = CodecOptions()
# Journals by the id() of the mongomock database store whose writes they record.
_journals: dict[int, Journal] = {}


class EmbeddedDataError(Exception):
    """The embedded database on disk cannot be read; the message says what to do."""


class _NotJournaled(DuplicateKeyError):
    """Raised inside mongomock when the journal refused a write: mongomock undoes an insert
    or an update only for a duplicate key, so this passes for one until the wrappers below
    turn it back into the StorageUnavailable it carries."""

    def __init__(self, error: StorageUnavailable) -> None:
        super().__init__(str(error.reason), 11000)
        self.error = error


def _raise_refusal_in(error: BaseException) -> None:
    """Raise the journal's refusal when `error` is, or was raised while handling, one
    (mongomock_motor replaces a duplicate key error with one of its own on the way)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, _NotJournaled):
            raise seen.error from None
        seen = seen.__cause__ or seen.__context__


def _install_journal_hooks() -> None:
    """Make mongomock report every document it writes. Only databases with a journal
    registered in `_journals` are recorded; others (tests' databases) are untouched."""
    if getattr(MongoMockCollection, "_schoolbell_journal_hooks", False):
        return
    ensure_uniques = MongoMockCollection._ensure_uniques
    delete = MongoMockCollection._delete
    insert = MongoMockCollection._insert
    update = MongoMockCollection._update

    # mongomock calls this with the final document after every insert and every update
    # that changed one (and rolls back when it raises a duplicate key).
    def _ensure_uniques(self: Any, new_data: dict[str, Any]) -> None:
        keys = unique_keys(self, new_data)
        embedded_indexes.document_changed(self._store, new_data)
        if not checked_before(new_data, keys):
            ensure_uniques(self, new_data)
            remember_checked(new_data, keys)
        journal = _journals.get(id(self._db_store))
        if journal is not None:
            try:
                journal.append(self.name, new_data["_id"], new_data)
            except StorageUnavailable as exc:
                raise _NotJournaled(exc) from exc

    # Every insert and update goes through these two: what the journal refused is undone
    # in memory too, and the caller learns why, not of a duplicate key.
    def _insert(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return insert(self, *args, **kwargs)
        except DuplicateKeyError as exc:
            _raise_refusal_in(exc)
            raise

    def _update(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return update(self, *args, **kwargs)
        except DuplicateKeyError as exc:
            _raise_refusal_in(exc)
            raise

    def _delete(self: Any, filter: Any, *args: Any, **kwargs: Any) -> Any:
        journal = _journals.get(id(self._db_store))
        if journal is None:
            return delete(self, filter, *args, **kwargs)
        query = filter if isinstance(filter, Mapping) or filter is None else {"_id": filter}
        candidates = {
            row["_id"]: self._store._documents.get(row["_id"])
            for row in self.find(query or {}, {"_id": 1})
        }
        result = delete(self, filter, *args, **kwargs)
        gone = [document_id for document_id in candidates if document_id not in self._store]
        for n, document_id in enumerate(gone):
            try:
                journal.append(self.name, document_id, None)
            except StorageUnavailable:
                for kept in gone[n:]:  # not deleted on disk: not deleted at all
                    self._store[kept] = candidates[kept]
                raise
        return result

    # mongomock has no hook for this; these methods see every document write.
    setattr(MongoMockCollection, "_ensure_uniques", _ensure_uniques)  # noqa: B010
    setattr(MongoMockCollection, "_insert", _insert)  # noqa: B010
    setattr(MongoMockCollection, "_update", _update)  # noqa: B010
    setattr(MongoMockCollection, "_delete", _delete)  # noqa: B010
    by_id = by_id_first(MongoMockCollection._iter_documents)
    setattr(MongoMockCollection, "_iter_documents", by_id)  # noqa: B010
    indexed = embedded_indexes.aggregate_from_index(MongoMockCollection.aggregate)
    setattr(MongoMockCollection, "aggregate", indexed)  # noqa: B010
    embedded_indexes.install()
    embedded_joins.install()
    embedded_groups.install()
    setattr(MongoMockCollection, "_schoolbell_journal_hooks", True)  # noqa: B010


# At import, before any collection exists: mongomock_motor copies these methods onto each
# collection object it makes.
_install_journal_hooks()


def _decoded(records: list[bytes]) -> list[dict[str, Any]]:
    # One call for all: the C decoder is fastest over one buffer.
    decoded: list[dict[str, Any]] = bson.decode_all(b"".join(records), _AS_STORED)
    return decoded


def read_embedded(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """Every document kept in an embedded data dir, by collection (for tools and tests)."""
    collections: dict[str, list[dict[str, Any]]] = {}
    for record in _readable(directory)[0]:
        collections.setdefault(record["c"], []).append(record["d"])
    return collections


def _readable(directory: Path) -> tuple[list[dict[str, Any]], list[Damage]]:
    """Every readable record, decoded; and the files in which something was not. A damaged
    record that framed like a whole one fails the decoding: then every file is read again,
    record by record."""
    records, damaged = merged(directory)
    try:
        return _decoded(records), damaged
    except (InvalidBSON, ValueError, UnicodeDecodeError):
        records, damaged = merged(directory, careful=True)
        return _decoded(records), damaged


def write_embedded(directory: Path, collections: dict[str, list[dict[str, Any]]]) -> None:
    """Write documents as an embedded data dir's snapshot (for tools and benchmarks)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(directory / SNAPSHOT_FILE, "ab") as handle:
        for name, documents in collections.items():
            for document in documents:
                handle.write(bson.encode({"c": name, "i": document["_id"], "d": document}))


class EmbeddedStore:
    """Keeps the in-memory database of `schoolbell dev` on disk: a journal of every write
    as it happens, folded into a snapshot in the background."""

    def __init__(
        self,
        database: Any,
        directory: Path,
        *,
        compact_every_seconds: float = COMPACT_EVERY_SECONDS,
        compact_at_bytes: int = COMPACT_AT_BYTES,
    ) -> None:
        self.database = database
        self.directory = directory
        self.compact_every_seconds = compact_every_seconds
        self.compact_at_bytes = compact_at_bytes
        self._journal: Journal | None = None
        self._task: asyncio.Task[None] | None = None
        self._fold_lock = asyncio.Lock()
        # Damage was found at start and not yet moved aside: read carefully until it is.
        self._careful = False
        # The damaged files moved aside so far, for whoever reports on them.
        self.moved_aside: list[MovedAside] = []
        self._when_writable_again: list[Callable[[], Awaitable[object]]] = []

    @property
    def problem(self) -> str | None:
        """Why writes are refused now (the folder is full or not writable), else None."""
        return None if self._journal is None else self._journal.problem

    def when_writable_again(self, action: Callable[[], Awaitable[object]]) -> None:
        """Run `action` (on the store's event loop) each time writes are taken again."""
        self._when_writable_again.append(action)

    async def load(self) -> int:
        """Read what is on disk into the database and start journaling; returns how many
        documents were restored. A damaged file is moved aside, after everything readable
        in it was kept."""
        started = time.monotonic()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        database_store = self.database.delegate._store
        restored = 0
        # Millions of new objects would set off the cyclic garbage collector again and again;
        # frozen afterwards, they are never walked by it again either (pauses of seconds at
        # 100,000 documents otherwise).
        gc.disable()
        try:
            records, damaged = _readable(self.directory)
            for record in records:
                # Straight into mongomock's dict: its per-document lock and unique checks
                # cost seconds at 100,000 documents, and each document passed them once.
                database_store[record["c"]]._documents[record["i"]] = record["d"]
                restored += 1
        finally:
            gc.freeze()
            gc.enable()
        found = segments(self.directory)
        if damaged:
            self._careful = True
            await self._move_damage_aside(damaged, upto=found[-1][0] if found else 0)
            found = segments(self.directory)
        self._journal = Journal(self.directory, (found[-1][0] + 1) if found else 1)
        _journals[id(database_store)] = self._journal
        restored += await self._import_legacy_snapshot()
        log.info(
            "embedded database loaded: %d documents in %.1f s", restored, time.monotonic() - started
        )
        return restored

    async def _move_damage_aside(self, damaged: list[Damage], *, upto: int) -> None:
        """Write what was readable as the snapshot and move the damaged files aside, so the
        next start reads clean files; with no room for that now, the next save does it."""
        try:
            _size, moved = await asyncio.to_thread(fold, self.directory, upto, careful=True)
        except OSError as exc:
            for damage in damaged:
                log.error(
                    "%s cannot be read in full (%s); dev starts from everything readable "
                    "in it. It could not be moved aside yet (%s): the next save does it.",
                    damage.path,
                    damage.detail,
                    exc.strerror or exc,
                )
            return
        self._careful = False
        self._report(moved)

    def _report(self, moved: list[MovedAside]) -> None:
        self.moved_aside.extend(moved)
        for file in moved:
            log.error(
                "%s cannot be read in full (%s); everything readable in it was kept and "
                "the file was moved aside to %s. Keep that file to repair what was lost, "
                "or delete it; to start afresh, delete %s.",
                file.path,
                file.detail,
                file.aside,
                self.directory,
            )

    async def _import_legacy_snapshot(self) -> int:
        """Earlier versions kept one JSON file: read it once, into the store and the journal."""
        legacy = self.directory / LEGACY_SNAPSHOT_FILE
        if not legacy.exists() or self._journal is None:
            return 0
        collections = read_snapshot(legacy)
        database_store = self.database.delegate._store
        restored = 0
        for name, documents in collections.items():
            for document in documents:
                # As mongomock itself would keep it: naive UTC datetimes, to the millisecond.
                stored = patch_datetime_awareness_in_document(document)
                database_store[name]._documents[stored["_id"]] = stored
                self._journal.append(name, stored["_id"], stored)
                restored += 1
        os.replace(legacy, legacy.with_name(f"{LEGACY_SNAPSHOT_FILE}.imported"))
        return restored

    async def compact(self) -> None:
        """Fold the journal written so far into the snapshot, in a thread."""
        if self._journal is None:
            return
        async with self._fold_lock:
            started = time.monotonic()
            upto = self._journal.rotate()
            size, moved = await asyncio.to_thread(fold, self.directory, upto, careful=self._careful)
            self._careful = False
            self._report(moved)
            log.info(
                "embedded database saved: %.1f MB in %.2f s (in the background)",
                size / 1e6,
                time.monotonic() - started,
            )

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        journal = self._journal
        assert journal is not None
        last_fold = time.monotonic()
        save_failing = False
        recoveries = journal.recoveries
        while True:
            await asyncio.sleep(FSYNC_EVERY_SECONDS)
            if journal.problem is not None and not await asyncio.to_thread(journal.probe):
                continue  # nothing to save while nothing could be written
            if journal.recoveries != recoveries:  # seen by the probe, or by a write meanwhile
                recoveries = journal.recoveries
                await self._writable_again()
            try:
                await asyncio.to_thread(journal.sync)
                grown = journal.size > 0
                due = time.monotonic() - last_fold > self.compact_every_seconds
                if (grown or self._careful) and (due or journal.size > self.compact_at_bytes):
                    await self.compact()
                    last_fold = time.monotonic()
                    if save_failing:
                        log.warning("the embedded database is saved again")
                    save_failing = False
            except Exception as exc:  # a failed save must not stop the next one; the journal holds
                # One line per outage: a full disk would otherwise log this every second.
                if not save_failing:
                    log.error(
                        "could not save the embedded database snapshot (%s); every write "
                        "is still in the journal; trying again every %.0f s",
                        exc,
                        RETRY_SAVE_SECONDS,
                    )
                save_failing = True
                last_fold = time.monotonic() - self.compact_every_seconds + RETRY_SAVE_SECONDS

    async def _writable_again(self) -> None:
        for action in self._when_writable_again:
            try:
                await action()
            except Exception:  # one follower's failure must not keep the others waiting
                log.exception("could not resume work after the data folder recovered")

    async def stop(self) -> None:
        """Fold everything into the snapshot and stop journaling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._journal is not None:
            try:
                await self.compact()
            except OSError as exc:  # the journal holds every write: the next start reads it
                log.error(
                    "could not save the embedded database snapshot (%s); every write is in "
                    "the journal, which the next start reads",
                    exc,
                )
            _journals.pop(id(self.database.delegate._store), None)
            self._journal.close()
            self._journal = None


install_linear_unwind()
