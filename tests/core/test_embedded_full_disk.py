"""The embedded store on a disk that fills up, and on files damaged by earlier versions: a
refused write changes nothing, every acknowledged write survives, later writes are never
stitched to half a record, and a damaged file costs only the bytes that are damaged."""

from __future__ import annotations

import asyncio
import errno
import io
import os
from pathlib import Path
from typing import Any

import bson
import pytest
from bson import ObjectId

from app.core import journal
from app.core.embedded import SNAPSHOT_FILE, read_embedded
from app.core.errors import StorageUnavailable
from app.delivery.models import Email, EmailStatus
from tests.core.test_embedded_store import email, names, opened
from tests.full_disk import FullDisk


@pytest.fixture
def full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FullDisk:
    return FullDisk(tmp_path, monkeypatch)


async def keys_in_memory() -> list[str]:
    return sorted(e.idempotency_key for e in await Email.find().to_list())


def keys_on_disk(directory: Path) -> list[str]:
    return sorted(e["idempotency_key"] for e in read_embedded(directory).get("emails", []))


async def test_a_write_the_full_disk_refused_is_undone_and_the_writes_after_it_are_kept(
    tmp_path: Path, full_disk: FullDisk
) -> None:
    await opened(tmp_path)
    before = [f"before-{n}" for n in range(3)]
    for key in before:
        await email(key).insert()
    full_disk.fill(leave=40)  # the start of the next record fits, the rest does not

    with pytest.raises(StorageUnavailable):
        await email("refused").insert()
    assert await keys_in_memory() == before

    full_disk.free()
    after = [f"after-{n}" for n in range(10)]
    for key in after:
        await email(key).insert()
    acknowledged = sorted(before + after)
    assert await keys_in_memory() == acknowledged

    await opened(tmp_path)  # the first process was never stopped: as if killed
    assert await keys_in_memory() == acknowledged
    store = await opened(tmp_path)
    await store.stop()  # folded into the snapshot
    assert keys_on_disk(tmp_path) == acknowledged
    assert names(tmp_path) == [SNAPSHOT_FILE]


async def test_an_update_or_delete_the_full_disk_refused_changes_nothing(
    tmp_path: Path, full_disk: FullDisk
) -> None:
    await opened(tmp_path)
    kept = email("kept")
    await kept.insert()
    full_disk.fill()

    with pytest.raises(StorageUnavailable):
        await Email.get_motor_collection().update_one(
            {"_id": kept.id}, {"$set": {"status": EmailStatus.sent}}
        )
    with pytest.raises(StorageUnavailable):
        await kept.delete()
    assert [(e.idempotency_key, e.status) for e in await Email.find().to_list()] == [
        ("kept", EmailStatus.pending)
    ]

    full_disk.free()
    await opened(tmp_path)
    assert [(e.idempotency_key, e.status) for e in await Email.find().to_list()] == [
        ("kept", EmailStatus.pending)
    ]


async def test_the_store_says_why_it_refuses_writes_and_notices_when_it_can_write_again(
    tmp_path: Path, full_disk: FullDisk
) -> None:
    store = await opened(tmp_path)
    resumed: list[str] = []
    writable_again = asyncio.Event()

    async def resume() -> None:
        resumed.append("resumed")
        writable_again.set()

    store.when_writable_again(resume)
    store.start()
    try:
        full_disk.fill()
        with pytest.raises(StorageUnavailable):
            await email("refused").insert()
        assert store.problem is not None
        assert "No space left on device" in store.problem

        full_disk.free()  # no write comes: the store finds out by itself
        await asyncio.wait_for(writable_again.wait(), 10)
        assert resumed == ["resumed"]
        assert store.problem is None
    finally:
        await store.stop()


async def test_a_disk_that_refuses_on_and_off_is_told_once_and_a_lasting_refusal_again(
    tmp_path: Path,
    full_disk: FullDisk,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = await opened(tmp_path)
    store.start()
    try:
        for n in range(10):  # a nearly full disk: refuses, takes a small write, refuses
            full_disk.fill()
            with pytest.raises(StorageUnavailable):
                await email(f"refused-{n}").insert()
            full_disk.free()
            await email(f"taken-{n}").insert()
        lines = [r.getMessage() for r in caplog.records if "data folder" in r.getMessage()]
        assert [("cannot be written" in line, "written again" in line) for line in lines] == [
            (True, False),
            (False, True),
        ], lines

        # A refusal that lasts past the quiet time is told, though no write comes.
        monkeypatch.setattr(journal, "REFUSAL_LINE_EVERY_SECONDS", 0.5)
        full_disk.fill()
        with pytest.raises(StorageUnavailable):
            await email("refused-at-last").insert()
        for _ in range(200):
            if sum("cannot be written" in r.getMessage() for r in caplog.records) == 2:
                break
            await asyncio.sleep(0.05)
        assert sum("cannot be written" in r.getMessage() for r in caplog.records) == 2
    finally:
        full_disk.free()
        await store.stop()


def record(document_id: ObjectId, key: str) -> bytes:
    document = {**email(key).model_dump(by_alias=True), "_id": document_id}
    return bson.encode({"c": "emails", "i": document_id, "d": document})


def emails_file(*keys: str) -> list[bytes]:
    return [record(ObjectId(), key) for key in keys]


async def test_a_journal_with_half_a_record_inside_keeps_every_whole_one_and_is_moved_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # What earlier versions left after a full disk: half a record, then later ones.
    first, half, *later = emails_file("first", "half", "later-1", "later-2", "later-3")
    damaged = first + half[: len(half) // 2] + b"".join(later)
    (tmp_path / "journal.00000001").write_bytes(damaged)

    store = await opened(tmp_path)
    assert await keys_in_memory() == ["first", "later-1", "later-2", "later-3"]
    (aside,) = [name for name in names(tmp_path) if ".corrupt-" in name]
    assert aside.startswith("journal.00000001.corrupt-")
    assert [m.aside.name for m in store.moved_aside] == [aside]
    assert aside in caplog.text
    assert (tmp_path / aside).read_bytes() == damaged  # kept whole for a repair

    caplog.clear()
    await opened(tmp_path)  # the next start reads clean files
    assert await keys_in_memory() == ["first", "later-1", "later-2", "later-3"]
    assert "cannot be read" not in caplog.text


async def test_a_snapshot_with_a_garbled_record_keeps_every_whole_one(tmp_path: Path) -> None:
    # A record whose end is garbage: its length and last byte look whole, so only decoding
    # shows the damage (as with the stitched bytes earlier versions folded into a snapshot).
    first, garbled, *later = emails_file("first", "garbled", "later-1", "later-2")
    garbled = garbled[:-10] + b"\xff" * 9 + b"\x00"
    (tmp_path / SNAPSHOT_FILE).write_bytes(first + garbled + b"".join(later))

    store = await opened(tmp_path)
    assert await keys_in_memory() == ["first", "later-1", "later-2"]
    assert [m.path.name for m in store.moved_aside] == [SNAPSHOT_FILE]
    await opened(tmp_path)
    assert await keys_in_memory() == ["first", "later-1", "later-2"]


async def test_a_torn_last_record_is_not_damage(tmp_path: Path) -> None:
    first, torn = emails_file("first", "torn")
    (tmp_path / "journal.00000001").write_bytes(first + torn[:-7])

    store = await opened(tmp_path)
    assert await keys_in_memory() == ["first"]
    assert store.moved_aside == []
    assert not [name for name in names(tmp_path) if ".corrupt-" in name]


async def test_a_fold_on_a_full_disk_leaves_no_half_snapshot_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await opened(tmp_path)
    await email("one").insert()

    monkeypatch.setattr("app.core.journal.open", _opens_on_a_full_disk, raising=False)
    with pytest.raises(OSError, match="No space left"):
        await store.compact()
    assert not [name for name in names(tmp_path) if name.endswith(".tmp")]
    await email("two").insert()

    monkeypatch.undo()
    await store.stop()
    assert keys_on_disk(tmp_path) == ["one", "two"]


class _FillsUp(io.FileIO):
    def write(self, data: Any) -> int:
        super().write(bytes(data)[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _opens_on_a_full_disk(path: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
    if "w" in mode:
        return _FillsUp(path, "w")
    return open(path, mode, *args, **kwargs)  # noqa: SIM115


async def test_a_stop_on_a_full_disk_says_so_and_the_next_start_has_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = await opened(tmp_path)
    await email("one").insert()

    monkeypatch.setattr("app.core.journal.open", _opens_on_a_full_disk, raising=False)
    await store.stop()  # Ctrl+C on a full disk: no traceback, the journal keeps the writes
    monkeypatch.undo()
    assert "could not save the embedded database snapshot" in caplog.text

    await opened(tmp_path)
    assert await keys_in_memory() == ["one"]
