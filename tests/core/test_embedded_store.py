"""The embedded database of `schoolbell dev` on disk: every write is in the journal when
it returns, the background fold keeps the same data, and damage is reported, not hidden."""

from __future__ import annotations

from pathlib import Path

import pytest
from bson import ObjectId, json_util
from mongomock_motor import AsyncMongoMockClient

from app.core.db import init_database
from app.core.embedded import SNAPSHOT_FILE, EmbeddedStore, read_embedded
from app.delivery.models import Email, EmailKind, EmailStatus
from app.documents import DOCUMENT_MODELS


async def opened(directory: Path) -> EmbeddedStore:
    """A fresh process's view: a new in-memory database loaded from `directory`."""
    database = await init_database(
        AsyncMongoMockClient(tz_aware=True), "schoolbell", DOCUMENT_MODELS
    )
    store = EmbeddedStore(database, directory)
    await store.load()
    return store


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def tear_the_journal(directory: Path) -> None:
    """Append the first bytes of a longer record, as a crash mid-write leaves them."""
    (journal,) = [p for p in directory.iterdir() if p.name.startswith("journal.")]
    with open(journal, "ab") as handle:
        handle.write(b"\x40\x00\x00\x00\x02c\x00")


def email(key: str) -> Email:
    return Email(
        idempotency_key=key,
        kind=EmailKind.account,
        to="a@example.org",
        subject=key,
        text="t",
        html="<p>t</p>",
    )


async def test_writes_are_on_disk_when_they_return_and_survive_without_a_save(
    tmp_path: Path,
) -> None:
    await opened(tmp_path)  # never stopped: as if killed
    kept, changed, deleted = email("kept"), email("changed"), email("deleted")
    for document in (kept, changed, deleted):
        await document.insert()
    await Email.get_motor_collection().update_one(
        {"_id": changed.id}, {"$set": {"status": EmailStatus.sent}}
    )
    await deleted.delete()

    store = await opened(tmp_path)
    rows = {e.idempotency_key: e.status for e in await Email.find().to_list()}
    assert rows == {"kept": EmailStatus.pending, "changed": EmailStatus.sent}
    # The unique index still holds over what was restored.
    with pytest.raises(Exception, match="uplicate"):
        await email("kept").insert()

    # Folded into the snapshot, the data reads the same and the journal is gone.
    await store.stop()
    assert names(tmp_path) == [SNAPSHOT_FILE]
    assert sorted(e["idempotency_key"] for e in read_embedded(tmp_path)["emails"]) == [
        "changed",
        "kept",
    ]


async def test_a_record_torn_by_a_crash_is_ignored(tmp_path: Path) -> None:
    await opened(tmp_path)
    await email("whole").insert()
    tear_the_journal(tmp_path)

    await opened(tmp_path)
    assert [e.idempotency_key for e in await Email.find().to_list()] == ["whole"]


async def test_a_corrupt_snapshot_is_moved_aside_and_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = await opened(tmp_path)
    await email("one").insert()
    await store.stop()
    snapshot = tmp_path / SNAPSHOT_FILE
    cut_short = snapshot.read_bytes()[:-3]
    snapshot.write_bytes(cut_short)

    store = await opened(tmp_path)  # starts, from what is readable (here: nothing)
    assert await Email.find().count() == 0
    (aside,) = [name for name in names(tmp_path) if ".corrupt-" in name]
    assert (tmp_path / aside).read_bytes() == cut_short
    assert [m.aside.name for m in store.moved_aside] == [aside]
    assert aside in caplog.text
    assert "to start afresh, delete" in caplog.text
    assert snapshot.exists()  # a clean one, written from what could be read


async def test_the_old_json_snapshot_is_imported_once(tmp_path: Path) -> None:
    # As the old snapshot held it: every document with its _id.
    legacy = {**email("from-json").model_dump(by_alias=True), "_id": ObjectId()}
    (tmp_path / "database.json").write_text(json_util.dumps({"emails": [legacy]}), encoding="utf-8")
    await opened(tmp_path)
    assert [e.idempotency_key for e in await Email.find().to_list()] == ["from-json"]
    assert (tmp_path / "database.json.imported").exists()

    await opened(tmp_path)  # read from the journal now, not imported a second time
    assert await Email.find().count() == 1
