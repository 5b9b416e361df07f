"""The embedded store's indexes: a query on a declared index looks only at the documents
holding the value it asks for, and every answer stays what mongomock's whole scan gives."""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import mongomock
import pytest
from bson import ObjectId
from mongomock.filtering import filter_applies
from mongomock.helpers import patch_datetime_awareness_in_document
from pymongo.errors import DuplicateKeyError

import app.core.embedded  # noqa: F401  (installs the indexes)
from app.core import embedded_indexes


@pytest.fixture
def collection() -> Any:
    documents: Any = mongomock.MongoClient().db.things
    documents.create_index([("owner", 1), ("at", -1), ("_id", -1)])
    documents.create_index([("tags.kind", 1)])
    documents.create_index([("code", 1)], unique=True, sparse=True)
    documents.create_index([("score", 1)])
    return documents


def scanned(collection: Any, query: dict[str, Any]) -> list[Any]:
    """What mongomock answers without indexes: every stored document, filtered, in order
    (the filter's datetimes made naive and cut to the millisecond, as its find does)."""
    query = patch_datetime_awareness_in_document(query)
    return [d["_id"] for d in list(collection._store.documents) if filter_applies(query, d)]


OWNERS = [ObjectId() for _ in range(5)]
VALUES: list[Any] = [*OWNERS, None, "a", "b", 1, 1.0, True, 0, False]
START = datetime(2026, 9, 1, 8, 0, 0, 123_456)
# Values of every kind a range meets: numbers of both types, strings, dates with and without
# a time zone (mongomock keeps them naive, to the millisecond), ids, and kinds with no order.
SCORES: list[Any] = [
    -1,
    0,
    2,
    2.5,
    7,
    float("nan"),
    "",
    "b",
    "bb",
    "c",
    START,
    START + timedelta(microseconds=400),
    START + timedelta(hours=3),
    (START + timedelta(hours=1)).replace(tzinfo=UTC),
    *OWNERS[:2],
    None,
    True,
    [1, "b"],
    {"at": 2},
]
BOUNDS = [b for b in SCORES if not isinstance(b, list | dict | bool) and b is not None]
RANGE_OPERATORS = ["$gt", "$gte", "$lt", "$lte"]


def random_document(rng: random.Random) -> dict[str, Any]:
    document: dict[str, Any] = {"at": rng.randrange(100)}
    shape = rng.randrange(6)
    if shape == 0:
        document["owner"] = rng.choice(VALUES)
    elif shape == 1:
        document["owner"] = [rng.choice(OWNERS), rng.choice(VALUES)]  # an array: loose
    elif shape == 2:
        document["owner"] = {"nested": rng.choice(OWNERS)}
    elif shape == 3:
        document["tags"] = [{"kind": rng.choice(["x", "y"])}]  # under an array: loose
    elif shape == 4:
        document["tags"] = {"kind": rng.choice(["x", "y", None])}
    if rng.randrange(4):
        document["score"] = rng.choice(SCORES)
    return document


def random_range(rng: random.Random) -> dict[str, Any]:
    """One or two bounds, of one kind or (rarely) of two."""
    condition = {rng.choice(RANGE_OPERATORS): rng.choice(BOUNDS)}
    if rng.randrange(2):
        condition[rng.choice(RANGE_OPERATORS)] = rng.choice(BOUNDS)
    if rng.randrange(5) == 0:
        condition["$ne"] = rng.choice(BOUNDS)
    return condition


def random_query(rng: random.Random) -> dict[str, Any]:
    pick = rng.randrange(11)
    if pick == 7:
        return {"score": random_range(rng)}
    if pick == 8:
        return {"owner": rng.choice(VALUES), "at": random_range(rng)}
    if pick == 9:
        return {"$and": [{"at": {"$gte": rng.randrange(100)}}, {"score": random_range(rng)}]}
    if pick == 10:
        return {"score": rng.choice(BOUNDS), "at": {"$lt": rng.randrange(100)}}
    if pick == 0:
        return {"owner": rng.choice(VALUES)}
    if pick == 1:
        return {"owner": {"$in": rng.sample(VALUES, 3)}, "at": {"$gte": rng.randrange(100)}}
    if pick == 2:
        return {"owner": {"$eq": rng.choice(VALUES)}}
    if pick == 3:
        return {"tags.kind": rng.choice(["x", "y", None])}
    if pick == 4:
        return {"$and": [{"owner": rng.choice(OWNERS)}, {"at": {"$lt": 50}}]}
    if pick == 5:
        return {"owner": {"nested": rng.choice(OWNERS)}}
    return {"code": rng.choice(["c1", "c2", None])}


def test_every_answer_is_what_the_whole_scan_gives_through_every_kind_of_write(
    collection: Any,
) -> None:
    rng = random.Random(7)
    for step in range(800):
        action = rng.randrange(10)
        if action < 4:
            collection.insert_one(random_document(rng))
        elif action < 6:
            collection.update_many(
                random_query(rng), {"$set": {"owner": rng.choice(VALUES), "at": step % 100}}
            )
        elif action == 6:
            collection.delete_one(random_query(rng))
        elif action == 7:
            # A write the unique index refuses is rolled back: its old values must be found.
            with contextlib.suppress(DuplicateKeyError):
                collection.update_one(
                    {"owner": rng.choice(OWNERS)},
                    {"$set": {"code": rng.choice(["c1", "c2"]), "owner": rng.choice(VALUES)}},
                )
        elif action == 8:
            collection.replace_one(random_query(rng), random_document(rng))
        query = random_query(rng)
        found = [d["_id"] for d in collection.find(query)]
        assert found == scanned(collection, query), (step, query)
        assert collection.count_documents(query) == len(found)
        pipeline = [{"$match": query}, {"$group": {"_id": None, "n": {"$sum": 1}}}]
        counted = list(collection.aggregate(pipeline))
        assert (counted[0]["n"] if counted else 0) == len(found), (step, query)


def test_a_query_on_a_declared_index_looks_only_at_the_documents_holding_its_value(
    collection: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, others = ObjectId(), [ObjectId() for _ in range(50)]
    collection.insert_many(
        [{"owner": others[n % 50], "at": n} for n in range(10_000)]
        + [{"owner": mine, "at": n} for n in range(20)]
    )
    looked_at = 0

    def counting(query: Any, document: Any) -> bool:
        nonlocal looked_at
        looked_at += 1
        return filter_applies(query, document)

    monkeypatch.setattr(embedded_indexes, "filter_applies", counting)
    # A condition no index serves: mongomock's filter reads the documents holding the value.
    newest = list(collection.find({"owner": mine, "note": None}).sort("at", -1).limit(5))
    assert [d["at"] for d in newest] == [19, 18, 17, 16, 15]
    assert looked_at == 20
    looked_at = 0
    assert collection.count_documents({"owner": {"$in": [mine, others[0]]}, "note": None}) == 220
    assert looked_at == 220
    # Equality on object ids alone: the index is sure of each match, no document is read.
    looked_at = 0
    assert collection.count_documents({"owner": {"$in": [mine, others[0]]}}) == 220
    assert looked_at == 0


def test_a_range_on_a_declared_index_looks_only_at_the_documents_in_range(
    collection: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, other = ObjectId(), ObjectId()
    collection.insert_many(
        [{"owner": other, "at": n, "score": n} for n in range(10_000)]
        + [{"owner": mine, "at": n, "score": n} for n in range(100)]
        + [{"score": "not a number"}, {"score": [5_000, 1]}]
    )
    looked_at = 0

    def counting(query: Any, document: Any) -> bool:
        nonlocal looked_at
        looked_at += 1
        return filter_applies(query, document)

    monkeypatch.setattr(embedded_indexes, "filter_applies", counting)
    # A range on a leading field: the 31 numbers in it are sure; the array, which may hold
    # one, is read.
    assert collection.count_documents({"score": {"$gte": 5_000, "$lte": 5_030}}) == 32
    assert looked_at == 1
    looked_at = 0
    # An equality and a range on the first two fields of an index: only where both hold.
    owned = collection.find({"owner": mine, "at": {"$gt": 90, "$ne": 93}, "score": {"$lt": 95}})
    assert [d["at"] for d in owned] == [91, 92, 94]
    assert looked_at == 4
