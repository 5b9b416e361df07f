"""Database round trips, counted by wrapping the driver (mongomock_motor stands in for Motor).

mongomock answers from memory, so wall time says nothing about a real server; the number
of calls that would each cross the network is what MongoDB would feel. One `find` is one
round trip however many documents it returns (up to a batch), as is one `aggregate`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

COLLECTION_OPERATIONS = (
    "aggregate",
    "bulk_write",
    "count_documents",
    "delete_many",
    "delete_one",
    "distinct",
    "estimated_document_count",
    "find",
    "find_one",
    "find_one_and_delete",
    "find_one_and_replace",
    "find_one_and_update",
    "insert_many",
    "insert_one",
    "replace_one",
    "update_many",
    "update_one",
)
DATABASE_OPERATIONS = ("command",)


@contextmanager
def counting(
    *, this_task_only: bool = False, leaving_out: tuple[str, ...] = ()
) -> Iterator[Counter[str]]:
    """Count, by operation name, the driver calls made inside the block; `this_task_only`
    leaves out those of other tasks (the app's own background loops during a long request:
    httpx's ASGI transport runs the request in the caller's task), `leaving_out` those on
    these collections (the job relay's poll of `jobs`, for a request that gathers queries
    in tasks of its own)."""
    import asyncio

    from mongomock_motor import AsyncMongoMockCollection, AsyncMongoMockDatabase

    counts: Counter[str] = Counter()
    wrapped: list[tuple[type, str]] = [
        (AsyncMongoMockCollection, name) for name in COLLECTION_OPERATIONS
    ]
    wrapped += [(AsyncMongoMockDatabase, name) for name in DATABASE_OPERATIONS]
    originals = [(owner, name, getattr(owner, name)) for owner, name in wrapped]

    def wrap(name: str, original: Any) -> Any:
        def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            if (not this_task_only or asyncio.current_task() is caller) and getattr(
                self, "name", None
            ) not in leaving_out:
                counts[name] += 1
            return original(self, *args, **kwargs)

        return counted

    caller = asyncio.current_task() if this_task_only else None
    for owner, name, original in originals:
        setattr(owner, name, wrap(name, original))
    try:
        yield counts
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
