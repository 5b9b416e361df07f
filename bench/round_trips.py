"""Counting database round trips, for the benchmarks.

mongomock stands in for MongoDB in the benchmarks, so wall time spent in it says nothing
about a real server; the number of calls that would cross the network does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Every collection method that costs one request to a real server (a cursor's `find` is
# counted once: its first batch, which is all these benchmarks read).
OPERATIONS = (
    "find",
    "find_one",
    "insert_one",
    "insert_many",
    "distinct",
    "aggregate",
    "count_documents",
    "update_one",
    "update_many",
    "find_one_and_update",
    "bulk_write",
    "delete_one",
    "delete_many",
)


@contextmanager
def counting() -> Iterator[Counter[str]]:
    """Count calls to the collection methods that each cost one round trip."""
    from mongomock_motor import AsyncMongoMockCollection

    counts: Counter[str] = Counter()
    originals = {name: getattr(AsyncMongoMockCollection, name) for name in OPERATIONS}

    def wrap(name: str, original: Any) -> Any:
        def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return original(self, *args, **kwargs)

        return counted

    for name, original in originals.items():
        setattr(AsyncMongoMockCollection, name, wrap(name, original))
    try:
        yield counts
    finally:
        for name, original in originals.items():
            setattr(AsyncMongoMockCollection, name, original)
