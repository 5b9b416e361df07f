"""Every query that reaches the database, recorded as its shape (equality fields, range
fields, sort) and checked against the indexes its document declares, by MongoDB's rules for
using a compound index: equality fields first, then the sort, then ranges.

mongomock has no query planner, so nothing here says an index is missing: a query that would
scan a whole collection on MongoDB answers the same on mongomock. The recorder wraps
mongomock's collection at the few places every read, write and aggregation passes through,
and `uncovered()` says which recorded shapes no declared index serves, and why.
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from beanie import Document
from mongomock.collection import Collection as MongoMockCollection

# Operators MongoDB answers from an index's bounds on one field, like a range.
_RANGE = {"$gt", "$gte", "$lt", "$lte"}
# Operators that still use an index on the field, with loose bounds (or a filter in it).
_LOOSE = {"$ne", "$nin", "$exists", "$not", "$regex", "$type", "$size", "$all", "$mod"}
# Operators no index can answer.
_UNINDEXABLE = {"$expr", "$where", "$text", "$jsonSchema"}
# A filter with more $or branches than this is recorded as one unindexable shape: it is
# a sign of a query built from data, which the check should name, not expand.
_MAX_BRANCHES = 64


@dataclass(frozen=True, order=True)
class QueryShape:
    """What the query planner sees of one query: which fields it asks to be equal to a
    value (or one of a list), which it bounds, and the order it wants."""

    collection: str
    equality: tuple[str, ...]
    ranges: tuple[str, ...]
    sort: tuple[tuple[str, int], ...]
    unindexable: bool = False

    def describe(self) -> str:
        parts = [f"{self.collection}: equality {list(self.equality)}"]
        if self.ranges:
            parts.append(f"range {list(self.ranges)}")
        if self.sort:
            parts.append("sort {" + ", ".join(f"{f}: {d}" for f, d in self.sort) + "}")
        if self.unindexable:
            parts.append("with an operator no index answers")
        return ", ".join(parts)


@dataclass
class _Conditions:
    equality: set[str] = field(default_factory=set)
    ranges: set[str] = field(default_factory=set)
    unindexable: bool = False

    def merged(self, other: _Conditions) -> _Conditions:
        return _Conditions(
            self.equality | other.equality,
            (self.ranges | other.ranges) - (self.equality | other.equality),
            self.unindexable or other.unindexable,
        )


def _field_conditions(path: str, condition: Any) -> list[_Conditions]:
    if not isinstance(condition, Mapping) or not any(str(k).startswith("$") for k in condition):
        return [_Conditions(equality={path})]
    found = _Conditions()
    for operator, operand in condition.items():
        if operator in ("$eq", "$in"):
            found.equality.add(path)
        elif operator == "$elemMatch" and isinstance(operand, Mapping):
            if any(str(k).startswith("$") for k in operand):
                found.equality.add(path)  # on an array of scalars
            else:
                for inner in _conditions({f"{path}.{k}": v for k, v in operand.items()}):
                    found = found.merged(inner)
        elif operator in _RANGE or operator in _LOOSE:
            found.ranges.add(path)
        elif operator == "$options":
            continue
        else:
            found.unindexable = True
    found.ranges -= found.equality
    return [found]


def _conditions(query: Mapping[str, Any]) -> list[_Conditions]:
    """The query as alternatives (one per $or branch), each a set of conditions."""
    alternatives = [_Conditions()]
    for raw_key, value in query.items():
        key = str(raw_key)  # Beanie's field expressions are str subclasses with their own ==
        if key == "$and":
            parts = [_conditions(part) for part in value]
        elif key == "$or":
            parts = [[branch for part in value for branch in _conditions(part)]]
        elif key == "$nor":
            parts = [[_Conditions(ranges={f for part in value for f in part})]]
        elif key in _UNINDEXABLE or key.startswith("$"):
            parts = [[_Conditions(unindexable=True)]]
        else:
            parts = [_field_conditions(key, value)]
        for options in parts:
            alternatives = [a.merged(b) for a, b in itertools.product(alternatives, options)]
            if len(alternatives) > _MAX_BRANCHES:
                return [_Conditions(unindexable=True)]
    return alternatives


def _sort_of(sort: Any) -> tuple[tuple[str, int], ...]:
    if not sort:
        return ()
    pairs = sort.items() if isinstance(sort, Mapping) else sort
    return tuple((str(f), 1 if int(d) > 0 else -1) for f, d in pairs if f != "$natural")


def shapes_of(
    collection: str, query: Mapping[str, Any] | None, sort: Any = None
) -> set[QueryShape]:
    """The shapes of one query: one per branch of its $or (MongoDB plans each on its own)."""
    order = _sort_of(sort)
    return {
        QueryShape(
            collection,
            tuple(sorted(c.equality)),
            tuple(sorted(c.ranges)),
            order,
            c.unindexable,
        )
        for c in _conditions(query or {})
    }


def pipeline_shapes(collection: str, pipeline: Sequence[Mapping[str, Any]]) -> set[QueryShape]:
    """The shapes of an aggregation: its leading $match (and the $sort after it) on its own
    collection, and each $lookup's equality on the collection it looks into."""
    found: set[QueryShape] = set()
    stages = list(pipeline)
    match: Mapping[str, Any] = {}
    sort: Any = None
    if stages and "$match" in stages[0]:
        match = stages[0]["$match"]
        if len(stages) > 1 and "$sort" in stages[1]:
            sort = stages[1]["$sort"]
    elif stages and "$sort" in stages[0]:
        sort = stages[0]["$sort"]
    found |= shapes_of(collection, match, sort)
    found |= _lookups(stages)
    return found


def _lookups(stages: Iterable[Mapping[str, Any]]) -> set[QueryShape]:
    found: set[QueryShape] = set()
    for stage in stages:
        if "$lookup" in stage:
            lookup = stage["$lookup"]
            if "pipeline" in lookup or "foreignField" not in lookup:
                found.add(QueryShape(lookup["from"], (), (), (), unindexable=True))
            else:
                found |= shapes_of(lookup["from"], {lookup["foreignField"]: 1})
        if "$facet" in stage:
            for branch in stage["$facet"].values():
                found |= _lookups(branch)
    return found


# --- checking a shape against declared indexes ------------------------------------------


def declared_indexes(models: Iterable[type[Document]]) -> dict[str, list[list[tuple[str, int]]]]:
    """Each collection's declared index keys, as Beanie creates them at start."""
    indexes: dict[str, list[list[tuple[str, int]]]] = {}
    for model in models:
        settings = model.Settings
        keys = [
            [(str(f), int(d)) for f, d in index.document["key"].items()]
            for index in getattr(settings, "indexes", [])
        ]
        indexes.setdefault(settings.name, []).extend(keys)
    return indexes


def names_a_document(field: str) -> bool:
    """An id field: it picks out a school, class, person or parent document, so a query that
    asks for one and an index that leaves it out would walk everyone else's documents."""
    last = field.rsplit(".", 1)[-1]
    return last in ("id", "_id", "ids") or last.endswith(("_id", "_ids"))


def why_not_served(shape: QueryShape, keys: list[tuple[str, int]]) -> str | None:
    """None when the index on `keys` serves the shape, by MongoDB's rules for a compound
    index (equality, sort, range):

    - the index starts with equalities of the query (with none, with one of its ranges; a
      query with no condition at all, with its sort);
    - when the query asks for ids by equality, one of them is among those leading
      equalities (the rest, e.g. the school of a class, are implied by it);
    - the sort, less fields an equality fixes, follows them in the index's order or its
      exact reverse, so pages come off the index with no sort in memory.

    Other conditions (a state, a role, a topic, a date range) are then checked on the
    documents the index leads to, which all belong to an id asked for."""
    fields = [f for f, _ in keys]
    equality, ranges = set(shape.equality), set(shape.ranges)
    leading = 0
    while leading < len(fields) and fields[leading] in equality:
        leading += 1
    if equality and leading == 0:
        return f"it starts with {fields[0]}, which the query does not fix"
    ids = sorted(f for f in equality if names_a_document(f))
    if ids and not set(ids) & set(fields[:leading]):
        return f"none of the ids {ids} is among its leading fields"
    if not equality and (ranges or not shape.sort) and fields[0] not in ranges:
        return f"it starts with {fields[0]}, which the query neither fixes nor bounds"
    wanted = [(f, d) for f, d in shape.sort if f not in equality]
    rest = [(f, d) for f, d in keys[leading:] if f not in equality]
    head = rest[: len(wanted)]
    if wanted and head != wanted and head != [(f, -d) for f, d in wanted]:
        return f"the sort {wanted} is not its order after the equalities"
    return None


def served_by(shape: QueryShape, indexes: list[list[tuple[str, int]]]) -> bool:
    if shape.unindexable:
        return False
    if "_id" in shape.equality:
        return True  # the _id index, unique: one document
    # Every collection has the _id index, which also serves ranges and order on _id.
    return any(why_not_served(shape, keys) is None for keys in [*indexes, [("_id", 1)]])


# --- recording ---------------------------------------------------------------------------


@dataclass
class Recording:
    """Shapes seen, each with the first place in app/ that asked for it."""

    shapes: dict[QueryShape, str] = field(default_factory=dict)

    def add(self, shapes: Iterable[QueryShape]) -> None:
        for shape in shapes:
            if not asked_by_the_app(self.shapes.get(shape, "")):
                self.shapes[shape] = _caller()

    def uncovered(
        self,
        indexes: Mapping[str, list[list[tuple[str, int]]]],
        allowed: Mapping[QueryShape, str] | None = None,
    ) -> dict[QueryShape, str]:
        """The shapes no declared index serves (less the `allowed` ones), with their source."""
        return {
            shape: source
            for shape, source in sorted(self.shapes.items())
            if asked_by_the_app(source)
            and shape not in (allowed or {})
            and not served_by(shape, indexes.get(shape.collection, []))
        }


_LOWER_LAYERS = ("/app/core/db.py", "/app/core/embedded", "/app/core/mongomock_speedups.py")
_THIS_FILE = __file__


def _caller() -> str:
    """Where in app/ the query was asked (the first frame above the database seam), and the
    frames of app/ that led there; a query only a test asks names the test."""
    frame = sys._getframe(2)
    chain: list[str] = []
    test = ""
    while frame is not None:
        name = frame.f_code.co_filename
        if "/app/" in name and not any(lower in name for lower in _LOWER_LAYERS):
            where = name[name.rindex("/app/") + 1 :]
            chain.append(f"{where}:{frame.f_lineno} {frame.f_code.co_name}")
        elif "/tests/" in name and name != _THIS_FILE and not test:
            test = f"{name[name.rindex('/tests/') + 1 :]}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return " <- ".join(chain[:3]) if chain else test


def asked_by_the_app(source: str) -> bool:
    return source.startswith("app/")


_inside = threading.local()
_recordings: list[Recording] = []
_installed = False


@contextmanager
def _once() -> Iterator[bool]:
    """True for the outermost recorded call only: mongomock's find_one calls find, its
    aggregate reads the whole collection, and those inner calls are not queries sent."""
    outer = not getattr(_inside, "depth", 0)
    _inside.depth = getattr(_inside, "depth", 0) + 1
    try:
        yield outer
    finally:
        _inside.depth -= 1


def _record(shapes: set[QueryShape]) -> None:
    for recording in _recordings:
        recording.add(shapes)


def _install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    get_dataset = MongoMockCollection._get_dataset
    iter_documents = MongoMockCollection._iter_documents
    aggregate = MongoMockCollection.aggregate

    def _get_dataset(self: Any, spec: Any, sort: Any, *args: Any, **kwargs: Any) -> Any:
        with _once() as outer:
            if outer and _recordings:
                _record(shapes_of(self.name, spec, sort))
            # mongomock's dataset is a generator: read it while inner calls are silenced.
            return list(get_dataset(self, spec, sort, *args, **kwargs))

    def _iter_documents(self: Any, filter: Any) -> Any:
        with _once() as outer:
            if outer and _recordings:
                _record(shapes_of(self.name, filter))
            return list(iter_documents(self, filter))

    def _aggregate(self: Any, pipeline: Any, *args: Any, **kwargs: Any) -> Any:
        with _once() as outer:
            if outer and _recordings:
                _record(pipeline_shapes(self.name, pipeline))
            return aggregate(self, pipeline, *args, **kwargs)

    MongoMockCollection._get_dataset = _get_dataset  # type: ignore[method-assign]
    MongoMockCollection._iter_documents = _iter_documents  # type: ignore[method-assign]
    MongoMockCollection.aggregate = _aggregate  # type: ignore[method-assign]


@contextmanager
def recording() -> Iterator[Recording]:
    """Record the shape of every query mongomock answers while inside."""
    _install()
    found = Recording()
    _recordings.append(found)
    try:
        yield found
    finally:
        _recordings.remove(found)


# --- the size of what is sent -----------------------------------------------------------


def longest_list(value: Any) -> int:
    """The longest list anywhere in a filter: ids sent in one query."""
    if isinstance(value, list):
        return max([len(value), *(longest_list(v) for v in value)])
    if isinstance(value, Mapping):
        return max([0, *(longest_list(v) for v in value.values())])
    return 0


@contextmanager
def filters_sent(collection: str) -> Iterator[list[Any]]:
    """Every filter mongomock applies to `collection` (finds, updates, deletes, and the
    $match of an aggregation's first stage) while inside. Enter it before the app starts:
    mongomock_motor copies the method onto each collection as it makes it."""
    seen: list[Any] = []
    iter_documents = MongoMockCollection._iter_documents

    def noting(self: Any, filter: Any) -> Any:
        if self.name == collection:
            seen.append(filter)
        return iter_documents(self, filter)

    MongoMockCollection._iter_documents = noting  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        MongoMockCollection._iter_documents = iter_documents  # type: ignore[method-assign]
