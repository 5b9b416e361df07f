"""Joins and groups on the embedded store: a `$lookup` + `$unwind` run as one indexed query
per document, and `$group` without mongomock's parser, give exactly the rows mongomock's own
stages give, for the pipelines app/core/db.py writes and others around them."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import mongomock
import pytest
from bson import ObjectId
from mongomock import aggregate as mongomock_aggregate

import app.core.embedded  # noqa: F401  (installs the joins and groups)

SCHOOLS = [ObjectId() for _ in range(3)]
NOW = datetime(2026, 9, 1, 12, 0, 0, 500_000)
WHEN: list[Any] = [
    NOW - timedelta(hours=h, microseconds=m) for h in (0, 1, 30) for m in (0, 300)
] + [None, "yesterday", 3]
# Kinds the fast paths leave to mongomock: a whole group goes there when one turns up.
ODD: list[Any] = [True, 1.5, [1], {"a": 1}]


@pytest.fixture(params=["usual values", "odd values too"])
def database(request: pytest.FixtureRequest) -> Any:
    odd = ODD if request.param == "odd values too" else []
    database: Any = mongomock.MongoClient(tz_aware=True).db
    database.notes.create_index([("school_id", 1), ("created_at", -1)])
    rng = random.Random(11)
    database.schools.insert_many(
        [{"_id": school, "name": f"s{n}", "tags": [n]} for n, school in enumerate(SCHOOLS)]
    )
    notes = []
    for n in range(400):
        note: dict[str, Any] = {"topic": rng.choice(["a", "b", None, ObjectId(), *odd])}
        if rng.randrange(10):
            note["school_id"] = rng.choice([*SCHOOLS, None, [SCHOOLS[0], SCHOOLS[1]]])
        if rng.randrange(10):
            note["created_at"] = rng.choice(WHEN + odd)
        if rng.randrange(4):
            note["read_at"] = rng.choice(WHEN + odd)
        if rng.randrange(5):
            note["n"] = n
        notes.append(note)
    database.notes.insert_many(notes)
    return database


def pipelines() -> list[list[dict[str, Any]]]:
    lookup = {
        "$lookup": {"from": "notes", "localField": "_id", "foreignField": "school_id", "as": "j"}
    }
    since = NOW - timedelta(hours=1)
    read = {"$sum": {"$cond": [{"$gt": ["$read_at", None]}, 1, 0]}}
    unread = {"$sum": {"$cond": [{"$gt": ["$read_at", None]}, 0, 5]}}
    recent = {"$match": {"j.created_at": {"$gte": since}}}
    root = {"$replaceRoot": {"newRoot": "$j"}}
    return [
        [lookup, {"$unwind": "$j"}, recent, root, {"$group": {"_id": "$topic", "c": {"$sum": 1}}}],
        [lookup, {"$unwind": "$j"}, recent, root, {"$group": {"_id": "$topic", "r": read}}],
        [lookup, {"$unwind": "$j"}, root, {"$group": {"_id": "$topic", "u": unread}}],
        [lookup, {"$unwind": "$j"}, root, {"$group": {"_id": "$topic", "a": {"$avg": "$n"}}}],
        [lookup, {"$unwind": "$j"}, root, {"$group": {"_id": None, "first": {"$first": "$n"}}}],
        [lookup, {"$unwind": "$j"}, recent, root, {"$count": "count"}],
        [lookup, {"$unwind": "$j"}, recent, root],
        [lookup, {"$unwind": "$j"}, {"$match": {"j.created_at": {"$lt": since}}}],
        [lookup, {"$unwind": "$j"}, {"$match": {"j.topic": "a"}}, {"$project": {"j": 0}}],
        [lookup, {"$unwind": "$j"}, {"$match": {"j.created_at": {"$gte": since}, "name": "s0"}}],
        [lookup, {"$unwind": "$j"}, root, {"$group": {"_id": "$school_id", "c": {"$sum": 1}}}],
        [lookup, {"$unwind": "$j"}, root, {"$group": {"_id": "$read_at", "m": {"$max": "$n"}}}],
        [
            {
                "$facet": {
                    "by_topic": [
                        lookup,
                        {"$unwind": "$j"},
                        recent,
                        root,
                        {"$group": {"_id": "$topic", "c": {"$sum": 1}, "r": read}},
                    ],
                    "all": [lookup, {"$unwind": "$j"}, {"$count": "n"}],
                }
            }
        ],
        [
            {"$lookup": {"from": "notes", "localField": "tags", "foreignField": "n", "as": "j"}},
            {"$unwind": "$j"},
            root,
            {"$group": {"_id": "$topic", "avg": {"$avg": "$n"}, "last": {"$last": "$read_at"}}},
        ],
    ]


@pytest.mark.parametrize("number", range(len(pipelines())))
def test_joins_and_groups_give_what_mongomock_s_own_stages_give(
    database: Any, number: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = pipelines()[number]
    fused = list(database.schools.aggregate(pipeline))
    handlers: dict[str, Any] = dict(mongomock_aggregate._PIPELINE_HANDLERS)
    handlers["$group"] = handlers["$group"].mongomock_own
    monkeypatch.setattr(mongomock_aggregate, "_PIPELINE_HANDLERS", handlers)
    fused_pipeline: Any = mongomock_aggregate.process_pipeline
    monkeypatch.setattr(mongomock_aggregate, "process_pipeline", fused_pipeline.mongomock_own)
    own = list(database.schools.aggregate(pipeline))
    assert fused == own
    assert fused, "a pipeline with no rows compares nothing"


def test_a_join_hands_over_copies_that_leave_the_stored_documents_as_they_were(
    database: Any,
) -> None:
    pipeline = [
        {"$lookup": {"from": "notes", "localField": "_id", "foreignField": "school_id", "as": "j"}},
        {"$unwind": "$j"},
        {"$match": {"j.created_at": {"$gte": NOW - timedelta(days=2)}}},
        {"$replaceRoot": {"newRoot": "$j"}},
        {"$group": {"_id": "$school_id", "first": {"$first": "$created_at"}}},
    ]
    before = list(database.notes.find())
    rows = list(database.schools.aggregate(pipeline))
    for row in rows:
        row["first"] = "changed"
    joined = list(database.schools.aggregate(pipeline[:4]))
    for row in joined:
        row["topic"] = "changed"
    assert list(database.notes.find()) == before
    # A date comes back as find gives it: with a time zone (the client is tz_aware).
    firsts = [row["first"] for row in database.schools.aggregate(pipeline)]
    assert firsts and all(first.tzinfo is not None for first in firsts)
