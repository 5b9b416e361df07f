"""The files of `schoolbell dev`'s embedded database: the journal every write is appended to,
the snapshot the journal is folded into, and how both are read back, whole or damaged.

Each record is one BSON document {c: collection, i: _id, d: document}; without `d` the
document was deleted. A write that fails half-way (a full disk) is cut back before anything
else is appended, so a record is either whole or the torn last one of its file. Reading
tells a torn last record (a crash mid-write: never acknowledged, ignored) from damage
further in; damage costs only the bytes it covers: reading resumes at the next whole record.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import bson
from bson import ObjectId
from bson.codec_options import CodecOptions
from bson.errors import InvalidBSON
from bson.raw_bson import RawBSONDocument

from app.core.errors import StorageUnavailable
from app.core.security import utcnow

log = logging.getLogger("app.core.embedded")

SNAPSHOT_FILE = "database.snapshot"
JOURNAL_PREFIX = "journal."
# Written and removed to learn whether the folder takes writes again: room for a few
# typical writes, so a folder with a few bytes left does not count as recovered.
PROBE_FILE = ".write-check"
PROBE_BYTES = 64 * 1024
# A nearly full disk refuses, takes a small write, and refuses again many times a second:
# after a refusal line, the next one waits this long, so a flapping disk is not a log line
# per request.
REFUSAL_LINE_EVERY_SECONDS = 60.0

_RAW = CodecOptions(document_class=RawBSONDocument)
# Every record starts with its collection: a string element named "c".
_RECORD_START = b"\x02c\x00"
_STRING, _OBJECT_ID, _DOCUMENT = 0x02, 0x07, 0x03


class Journal:
    """The open journal segment, appended to on the writer's thread before a write returns."""

    def __init__(self, directory: Path, segment: int) -> None:
        self.directory = directory
        self.segment = segment
        self.lock = threading.Lock()
        self._fd = self._open(segment)
        self.size = os.fstat(self._fd).st_size
        self._dirty = False
        # A failed append left bytes at the end that could not be cut off yet: nothing
        # may follow them until they are.
        self._cut_pending = False
        # Why the folder cannot be written, while it cannot; None when it can.
        self.problem: str | None = None
        # How many times writes were taken again after a refusal.
        self.recoveries = 0
        # A refusal line stands with no "written again" line after it.
        self._refusal_told = False
        self._refusal_told_at = -REFUSAL_LINE_EVERY_SECONDS

    def _open(self, segment: int) -> int:
        path = self.directory / f"{JOURNAL_PREFIX}{segment:08d}"
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def append(self, collection: str, document_id: Any, document: Any) -> None:
        """Write one whole record, or raise StorageUnavailable having written nothing."""
        record: dict[str, Any] = {"c": collection, "i": document_id}
        if document is not None:
            record["d"] = document
        encoded = bson.encode(record)
        with self.lock:
            try:
                if self._cut_pending:
                    self._cut_back()
                data = memoryview(encoded)
                while data:
                    data = data[os.write(self._fd, data) :]
            except OSError as exc:
                self._cut_pending = True
                with contextlib.suppress(OSError):
                    self._cut_back()
                self._failed(exc)
                raise StorageUnavailable(self.problem or str(exc)) from exc
            self.size += len(encoded)
            self._dirty = True
            if self.problem is not None:
                self._recovered()

    def _cut_back(self) -> None:
        os.ftruncate(self._fd, self.size)
        self._cut_pending = False

    def _failed(self, exc: OSError) -> None:
        reason = exc.strerror or str(exc) or type(exc).__name__
        self.problem = f"the data folder {self.directory} cannot be written ({reason})"
        self._tell_refusal()

    def _tell_refusal(self) -> None:
        """One line per outage, not a traceback per write; a refusal soon after the last
        one is told later, by the probe, if it lasts."""
        now = time.monotonic()
        if self._refusal_told or now - self._refusal_told_at < REFUSAL_LINE_EVERY_SECONDS:
            return
        log.error("%s: writes answer 503 until it can, reads go on", self.problem)
        self._refusal_told, self._refusal_told_at = True, now

    def _recovered(self) -> None:
        self.problem = None
        self.recoveries += 1
        if self._refusal_told:
            log.warning("the data folder %s can be written again", self.directory)
            self._refusal_told = False

    def probe(self) -> bool:
        """Whether the folder takes writes again (from a thread, while it did not)."""
        path = self.directory / PROBE_FILE
        try:
            with self.lock:
                if self._cut_pending:
                    self._cut_back()
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                data = memoryview(bytes(PROBE_BYTES))
                while data:
                    data = data[os.write(descriptor, data) :]
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
                path.unlink(missing_ok=True)
        except OSError:
            with self.lock:
                if self.problem is not None:
                    self._tell_refusal()
            return False
        with self.lock:
            if self.problem is not None:
                self._recovered()
        return True

    def sync(self) -> None:
        """Flush to the disk (from a thread). The fsync runs on a duplicate descriptor,
        outside the lock, so appends on the event loop never wait for the disk."""
        with self.lock:
            if not self._dirty:
                return
            descriptor = os.dup(self._fd)
            self._dirty = False
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def rotate(self) -> int:
        """Continue in a new segment; returns the last one written, now closed. No fsync
        here, on the event loop: the fold writes the snapshot that holds it durably."""
        with self.lock:
            # Opened first: when the folder refuses a new file, the current one goes on.
            descriptor = self._open(self.segment + 1)
            with contextlib.suppress(OSError):
                if self._cut_pending:
                    self._cut_back()  # else it stays the torn last record of its segment
            os.close(self._fd)
            closed, self.segment, self._fd = self.segment, self.segment + 1, descriptor
            self.size, self._dirty, self._cut_pending = 0, False, False
            return closed

    def close(self) -> None:
        with self.lock:
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
            if self.size == 0:
                (self.directory / f"{JOURNAL_PREFIX}{self.segment:08d}").unlink(missing_ok=True)


def segments(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for path in directory.glob(f"{JOURNAL_PREFIX}*"):
        suffix = path.name[len(JOURNAL_PREFIX) :]
        if suffix.isdigit():
            found.append((int(suffix), path))
    return sorted(found)


# --- reading ---------------------------------------------------------------------------------


def _framed_at(data: bytes, position: int) -> int:
    """The length of the record that seems to start at `position`, or 0 (cheap checks only)."""
    length = int.from_bytes(data[position : position + 4], "little")
    if (
        length < 5 + len(_RECORD_START)
        or position + length > len(data)
        or data[position + length - 1] != 0
        or data[position + 4 : position + 7] != _RECORD_START
    ):
        return 0
    return length


def _whole_at(data: bytes, position: int) -> int:
    """The length of the record at `position` when it decodes in full as one, else 0."""
    length = _framed_at(data, position)
    if not length:
        return 0
    try:
        fields = bson.decode(data[position : position + length])
    except Exception:  # noqa: BLE001 (whatever the decoder says, these bytes are not a record)
        return 0
    if not isinstance(fields.get("c"), str) or "i" not in fields or set(fields) - {"c", "i", "d"}:
        return 0
    return length


def _frames(data: bytes) -> tuple[list[bytes], int]:
    """Records by their lengths alone, up to the first that does not frame; and where."""
    records, position = [], 0
    while position < len(data) and (length := _framed_at(data, position)):
        records.append(data[position : position + length])
        position += length
    return records, position


def _salvage(data: bytes) -> tuple[list[bytes], list[tuple[int, int]]]:
    """Every record that decodes in full, and the stretches of bytes between them that
    do not (after a bad stretch, reading resumes at the next whole record)."""
    records: list[bytes] = []
    skipped: list[tuple[int, int]] = []
    position = 0
    while position < len(data):
        length = _whole_at(data, position)
        if length:
            records.append(data[position : position + length])
            position += length
            continue
        start = position
        while True:
            found = data.find(_RECORD_START, position + 5)
            position = len(data) if found < 0 else found - 4
            if position >= len(data) or _whole_at(data, position):
                break
        skipped.append((start, position))
    return records, skipped


# Records are checked by decoding this much at a time: the decoder holds the GIL while it
# runs, and the fold's thread must not stall the event loop for a whole large journal.
_CHECKED_AT_ONCE = 1024 * 1024


def _decodes(records: list[bytes]) -> bool:
    start = 0
    while start < len(records):
        stop, size = start, 0
        while stop < len(records) and size < _CHECKED_AT_ONCE:
            size += len(records[stop])
            stop += 1
        try:
            bson.decode_all(b"".join(records[start:stop]))
        except Exception:  # noqa: BLE001 (any complaint of the decoder means: read it carefully)
            return False
        start = stop
    return True


def read_records(path: Path, *, is_journal: bool, careful: bool = False) -> tuple[list[bytes], str]:
    """The whole records of a file, and what was damaged in it ("" when nothing was).

    A journal's records are checked by decoding them (a journal is a few seconds of
    writes); a snapshot's only by their framing, since start-up decodes it anyway and reads
    it again with `careful` when that fails. A torn last record of a journal is not damage.
    """
    data = path.read_bytes()
    if not careful:
        records, end = _frames(data)
        whole = end == len(data) or (is_journal and not _salvage(data[end:])[0])
        if whole and (not is_journal or _decodes(records)):
            if end < len(data):
                # A write cut short by a crash: never acknowledged, so never relied on.
                log.warning("ignoring a torn last record in %s", path)
            return records, ""
    records, skipped = _salvage(data)
    if is_journal and skipped and skipped[-1][1] == len(data):
        if len(skipped) == 1:
            log.warning("ignoring a torn last record in %s", path)
        skipped = skipped[:-1]
    if not skipped:
        return records, ""
    lost = sum(stop - start for start, stop in skipped)
    return records, (
        f"{lost} bytes in {len(skipped)} place(s) from byte {skipped[0][0]} could not be "
        f"read; {len(records)} whole records were kept"
    )


def record_key(record: bytes) -> tuple[str, Any, bool]:
    """(collection, _id, whether it holds a document) of a record, read from the bytes
    where the layout is the usual one (a string `c`, then an ObjectId `i`): decoding every
    record in full would double the time a start takes."""
    if record[4] == _STRING and record[5:7] == b"c\x00":
        length = int.from_bytes(record[7:11], "little")
        at = 11 + length
        if record[at] == _OBJECT_ID and record[at + 1 : at + 3] == b"i\x00":
            name = record[11 : at - 1].decode()
            return name, ObjectId(record[at + 3 : at + 15]), record[at + 15] == _DOCUMENT
    decoded = RawBSONDocument(record, _RAW)
    return decoded["c"], decoded["i"], "d" in decoded


@dataclass(frozen=True)
class Damage:
    path: Path
    detail: str


def _keyed(path: Path, *, is_journal: bool, careful: bool) -> tuple[list[Any], str]:
    records, damage = read_records(path, is_journal=is_journal, careful=careful)
    try:
        return [(record, record_key(record)) for record in records], damage
    except (KeyError, ValueError, IndexError, UnicodeDecodeError, InvalidBSON):
        if careful:
            raise
    return _keyed(path, is_journal=is_journal, careful=True)


def merged(
    directory: Path, upto: int | None = None, *, careful: bool = False
) -> tuple[list[bytes], list[Damage]]:
    """The latest record of every document: the snapshot, then the journal segments (up to
    `upto`) in order; and the files in which something could not be read."""
    latest: dict[tuple[str, Any], bytes] = {}
    damaged: list[Damage] = []
    snapshot = directory / SNAPSHOT_FILE
    sources = [(snapshot, False)] if snapshot.exists() else []
    sources += [(p, True) for n, p in segments(directory) if upto is None or n <= upto]
    for path, is_journal in sources:
        keyed, damage = _keyed(path, is_journal=is_journal, careful=careful)
        if damage:
            damaged.append(Damage(path, damage))
        for record, (name, document_id, holds_document) in keyed:
            if holds_document:
                latest[(name, document_id)] = record
            else:
                latest.pop((name, document_id), None)
    return list(latest.values()), damaged


# --- folding ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MovedAside:
    path: Path
    aside: Path
    detail: str


def _aside(path: Path, now: datetime) -> Path:
    return path.with_name(f"{path.name}.corrupt-{now:%Y%m%dT%H%M%S}")


def fold(directory: Path, upto: int, *, careful: bool = False) -> tuple[int, list[MovedAside]]:
    """Fold journal segments up to `upto` into a new snapshot; returns its size in bytes
    and the damaged files it moved aside (never overwritten: kept for a repair). Runs in a
    thread and reads only files: the live database is never touched."""
    folded = [path for number, path in segments(directory) if number <= upto]
    latest, damaged = merged(directory, upto, careful=careful)
    if not folded and not damaged:
        return 0, []
    snapshot = directory / SNAPSHOT_FILE
    temporary = snapshot.with_suffix(".tmp")
    size = _write_snapshot(temporary, latest)
    now = utcnow()
    moved: list[MovedAside] = []
    details = {damage.path: damage.detail for damage in damaged}
    if snapshot in details:
        aside = _aside(snapshot, now)
        try:
            os.link(snapshot, aside)  # the damaged one stays whole until the new one is in
        except OSError:
            os.replace(snapshot, aside)
        moved.append(MovedAside(snapshot, aside, details[snapshot]))
    os.replace(temporary, snapshot)
    _sync_directory(directory)
    # A crash before these go replays them over the new snapshot: the same end state.
    for path in folded:
        if path in details:
            aside = _aside(path, now)
            os.replace(path, aside)
            moved.append(MovedAside(path, aside, details[path]))
        else:
            path.unlink()
    return size, moved


def _write_snapshot(path: Path, records: Iterable[bytes]) -> int:
    size = 0
    try:
        with open(path, "wb") as handle:
            for record in records:
                handle.write(record)
                size += len(record)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        # Half a snapshot would only take the room the next try needs.
        path.unlink(missing_ok=True)
        raise
    return size


def _sync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
