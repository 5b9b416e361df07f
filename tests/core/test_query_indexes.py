"""Every query on an index: the shape of each query the app sends (equality fields, ranges,
sort) is served by an index its document declares, by MongoDB's rules for compound indexes.

The flows are those of tests/test_real_mongodb.py and tests/real_mongodb/, run here on
mongomock with every query recorded; `SCHOOLBELL_QUERY_SHAPES=FILE uv run pytest` checks the
shapes of the whole suite the same way (tests/conftest.py).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from beanie import Document
from mongomock_motor import AsyncMongoMockClient

from app.core.config import Settings
from app.documents import DOCUMENT_MODELS
from app.main import create_app
from tests.query_shapes import (
    QueryShape,
    declared_indexes,
    pipeline_shapes,
    recording,
    served_by,
    shapes_of,
    why_not_served,
)

_MIGRATION = (
    "a migration of app/migrations.py: it runs once per database (app/core/migrations.py "
    "records it) and looks at every document by design"
)

# Queries allowed to walk a whole collection, each with the reason.
ALLOWED_SCANS: dict[QueryShape, str] = {
    QueryShape("users", (), (), ()): _MIGRATION + " (emails in their folded form)",
    **{
        # Its first page; the next ones walk the _id index on from the last id.
        QueryShape("users", (), (moved,), (("_id", 1),)): _MIGRATION + " (preferences out of users)"
        for moved in ("digest_due", "next_digest_at", "preferences")
    },
    **{
        shape: _MIGRATION + " (grade subject keys)"
        for shape in (
            QueryShape("grades", ("subject_key",), (), ()),
            QueryShape("grades", ("subject", "subject_key"), (), ()),
        )
    },
    QueryShape("emails", (), ("announcement_id",), ()): _MIGRATION + " (email source field)",
    QueryShape("jobs", (), (), ()): (
        "/metrics counts the job outbox by queue: it holds only jobs not yet done (a record "
        "is deleted when its job finishes), and the count is the figure to watch"
    ),
    QueryShape(
        "jobs", (), ("dispatches", "relay_token"), (("lease_until", 1), ("created_at", 1))
    ): (
        "jobs.relay_due_jobs(everything=True) sends every recorded job: the app never asks "
        "it, tests do"
    ),
    QueryShape("jobs", (), ("dispatches",), ()): (
        "the start of the only process on a database takes over every job still recorded "
        "(jobs.take_over_recorded_jobs): the whole outbox, by design"
    ),
}

INDEXES = declared_indexes(DOCUMENT_MODELS)


def only(shapes: set[QueryShape]) -> QueryShape:
    assert len(shapes) == 1, shapes
    return next(iter(shapes))


# --- the rules ----------------------------------------------------------------------------


def test_a_newest_first_page_needs_an_index_ending_in_the_tie_breaker() -> None:
    page = only(shapes_of("things", {"school_id": 1}, [("created_at", -1), ("_id", -1)]))
    without_tie_breaker = [("school_id", 1), ("created_at", -1)]
    assert why_not_served(page, without_tie_breaker) is not None
    assert why_not_served(page, [*without_tie_breaker, ("_id", -1)]) is None
    # Read backwards, the same index serves the oldest-first order.
    oldest_first = only(shapes_of("things", {"school_id": 1}, [("created_at", 1), ("_id", 1)]))
    assert why_not_served(oldest_first, [*without_tie_breaker, ("_id", -1)]) is None
    mixed = only(shapes_of("things", {"school_id": 1}, [("created_at", -1), ("_id", 1)]))
    assert why_not_served(mixed, [*without_tie_breaker, ("_id", -1)]) is not None


def test_each_branch_of_a_page_cursor_is_planned_on_its_own() -> None:
    after = {
        "$and": [
            {"school_id": 1},
            {"$or": [{"created_at": {"$lt": 5}}, {"created_at": 5, "_id": {"$lt": 9}}]},
        ]
    }
    branches = shapes_of("things", after, [("created_at", -1), ("_id", -1)])
    assert {(s.equality, s.ranges) for s in branches} == {
        (("school_id",), ("created_at",)),
        (("created_at", "school_id"), ("_id",)),
    }
    index = [("school_id", 1), ("created_at", -1), ("_id", -1)]
    assert all(why_not_served(branch, index) is None for branch in branches)


def test_an_index_must_start_with_what_the_query_fixes() -> None:
    by_school = only(shapes_of("things", {"school_id": 1, "status": "x"}))
    assert why_not_served(by_school, [("status", 1), ("school_id", 1)]) is None
    assert why_not_served(by_school, [("created_at", 1), ("school_id", 1)]) is not None
    # A state may be checked on the documents an id led to; an id left out may not.
    assert why_not_served(by_school, [("school_id", 1)]) is None
    assert why_not_served(by_school, [("status", 1)]) is not None
    assert not served_by(only(shapes_of("things", {})), [[("school_id", 1)]])
    assert served_by(only(shapes_of("things", {"_id": 1, "x": 2})), [])


def test_an_element_match_asks_for_the_fields_of_the_element() -> None:
    shape = only(shapes_of("schools", {"classes": {"$elemMatch": {"id": 1, "name": "5A"}}}))
    assert shape.equality == ("classes.id", "classes.name")
    assert served_by(shape, [[("classes.id", 1)]])


def test_a_lookup_is_a_query_on_the_collection_it_looks_into() -> None:
    pipeline: list[dict[str, Any]] = [
        {"$match": {"school_id": 1}},
        {
            "$facet": {
                "n": [
                    {
                        "$lookup": {
                            "from": "subs",
                            "localField": "_id",
                            "foreignField": "school_id",
                            "as": "j",
                        }
                    }
                ]
            }
        },
    ]
    shapes = pipeline_shapes("classes", pipeline)
    assert QueryShape("subs", ("school_id",), (), ()) in shapes
    assert QueryShape("classes", ("school_id",), (), ()) in shapes


# --- the app's queries ----------------------------------------------------------------------

_FLOW_MODULES = [
    "tests.test_real_mongodb",
    *(
        f"tests.real_mongodb.{path.stem}"
        for path in sorted((Path(__file__).parents[1] / "real_mongodb").glob("test_*.py"))
    ),
]


def _flows() -> list[Any]:
    found = []
    for name in _FLOW_MODULES:
        module = importlib.import_module(name)
        for test_name, flow in inspect.getmembers(module, inspect.iscoroutinefunction):
            # Flows that need more than a folder (worker processes, a Redis) cannot run on
            # the embedded database; their queries (the fan-out chunks) are the in-process
            # chunk tests', which a SCHOOLBELL_QUERY_SHAPES run checks.
            takes_only_a_folder = list(inspect.signature(flow).parameters) == ["tmp_path"]
            if test_name.startswith("test_") and flow.__module__ == name and takes_only_a_folder:
                found.append(pytest.param(flow, id=test_name.removeprefix("test_")))
    return found


@pytest.mark.parametrize("flow", _flows())
async def test_every_query_of_a_main_flow_is_on_a_declared_index(
    flow: Callable[[Path], Awaitable[None]], tmp_path: Path
) -> None:
    # Without MONGODB_URL these flows open the embedded database (mongomock).
    with recording() as recorded:
        await flow(tmp_path)
    missing = recorded.uncovered(INDEXES, ALLOWED_SCANS)
    assert recorded.shapes, "no query recorded: the recorder missed the database"
    assert not missing, "queries on no declared index:\n" + "\n".join(
        f"{shape.describe()}  <- {source}" for shape, source in missing.items()
    )


def test_each_allowed_scan_is_one_no_index_serves() -> None:
    for shape, reason in ALLOWED_SCANS.items():
        assert reason
        assert not served_by(shape, INDEXES.get(shape.collection, [])), shape


async def created_keys(model: type[Document]) -> set[tuple[tuple[str, int], ...]]:
    """The keys of each index the database has for `model`'s collection."""
    created = await model.get_motor_collection().index_information()
    return {tuple((str(f), int(d)) for f, d in index["key"]) for index in created.values()}


async def test_every_declared_index_is_created_at_start(settings: Settings) -> None:
    client: Any = AsyncMongoMockClient(tz_aware=True)
    app = create_app(settings, mongo_client=client)
    async with app.router.lifespan_context(app):
        for model in DOCUMENT_MODELS:
            created = await created_keys(model)
            for declared in INDEXES[model.get_collection_name()]:
                assert tuple(declared) in created, (model.__name__, declared)


async def test_a_database_of_an_earlier_version_gains_the_new_indexes_at_start(
    settings: Settings,
) -> None:
    """Indexes an earlier version created stay (Beanie drops none); those declared since are
    added beside them, under names of their own, so no start fails on a name whose keys
    changed."""
    client: Any = AsyncMongoMockClient(tz_aware=True)
    database = client[settings.mongodb_db]
    earlier = {
        "event_rsvps": ("person_answers", [("user_id", 1), ("event_id", 1)]),
        "notifications": (
            "digest_pending",
            [
                ("recipient_id", 1),
                ("email_decision", 1),
                ("digest_frequency", 1),
                ("digested_at", 1),
                ("created_at", 1),
            ],
        ),
        "emails": ("source", [("source_id", 1), ("status", 1)]),
    }
    for collection, (name, keys) in earlier.items():
        await database[collection].create_index(keys, name=name)
    app = create_app(settings, mongo_client=client)
    async with app.router.lifespan_context(app):
        for model in DOCUMENT_MODELS:
            created = await created_keys(model)
            assert all(tuple(k) in created for k in INDEXES[model.get_collection_name()])
        for collection, (name, _) in earlier.items():
            assert name in await database[collection].index_information()
