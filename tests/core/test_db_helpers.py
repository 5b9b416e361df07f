"""The database helpers tell the caller the truth about what was written."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import BulkWriteError

from app.core import db
from app.delivery.models import Email


class _Refusing:
    def __init__(self, details: dict[str, Any]) -> None:
        self.details = details

    async def insert_many(self, documents: list[dict[str, Any]], ordered: bool) -> Any:
        raise BulkWriteError(self.details)


def refusing(monkeypatch: pytest.MonkeyPatch, details: dict[str, Any]) -> None:
    monkeypatch.setattr(db, "collection", lambda model: _Refusing(details))


async def test_duplicates_a_parallel_run_wrote_first_are_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refusing(monkeypatch, {"nInserted": 2, "writeErrors": [{"code": 11000}]})
    assert await db.insert_many_ignoring_duplicates(Email, [{}, {}, {}]) == 2


async def test_a_write_concern_error_is_never_reported_as_success(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # MongoDB took the documents but could not make them durable on a majority.
    refusing(
        monkeypatch,
        {"nInserted": 3, "writeErrors": [], "writeConcernErrors": [{"code": 64}]},
    )
    with pytest.raises(BulkWriteError):
        await db.insert_many_ignoring_duplicates(Email, [{}, {}, {}])


async def test_any_other_write_error_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    refusing(monkeypatch, {"nInserted": 0, "writeErrors": [{"code": 121}]})
    with pytest.raises(BulkWriteError):
        await db.insert_many_ignoring_duplicates(Email, [{}])
