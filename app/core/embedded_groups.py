"""`$group` on the embedded store without mongomock's expression parser for the plain forms
the figures use: a group key that is one top-level field (or none), and accumulators over a
constant, a top-level field, or "counted when a field is set" ({"$cond": [{"$gt": ["$f",
null]}, a, b]}).

mongomock sorts every document by a comparable wrapper of its key and parses each
accumulator's expression per document: /stats counting 50,000 notifications and emails
spent seconds there. Here documents are grouped by key in a dict (only for keys whose
equality a dict shares with MongoDB: null, strings, object ids), the few keys put in
mongomock's order, and each accumulator's values computed directly, then handed to
mongomock's own operator ($sum, $avg, $min, $max, $first, $last, $mergeObjects), so the
rows are those it gives. Any other form goes to mongomock's own stage.
Installed by app/core/embedded.py, on import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from bson import ObjectId

_MISSING = object()
_GROUP_KEYS = (str, ObjectId)
# Values that MongoDB (and mongomock) order above null whatever they are.
_SET_VALUES = (str, ObjectId, datetime, int, float)


class _Unsupported(Exception):
    """A form (or a value) this stage leaves to mongomock's."""


def _top_level_field(expression: Any) -> str | None:
    if isinstance(expression, str) and expression.startswith("$") and len(expression) > 1:
        field = expression[1:]
        if "." not in field and not field.startswith("$"):
            return field
    return None


def _values_of(expression: Any) -> Callable[[list[Mapping[str, Any]]], list[Any]]:
    """A function giving the expression's values over a group's documents, as mongomock's
    accumulator collects them (a document missing the field adds none)."""
    if isinstance(expression, int | float) and not isinstance(expression, bool):
        return lambda documents: [expression] * len(documents)
    field = _top_level_field(expression)
    if field is not None:
        return lambda documents: [
            value
            for value in (document.get(field, _MISSING) for document in documents)
            if value is not _MISSING
        ]
    counted = _counted_when_set(expression)
    if counted is not None:
        return counted
    raise _Unsupported


def _counted_when_set(expression: Any) -> Callable[[list[Mapping[str, Any]]], list[Any]] | None:
    """{"$cond": [{"$gt": ["$field", None]}, when_set, otherwise]} over numbers."""
    if not isinstance(expression, Mapping) or set(expression) != {"$cond"}:
        return None
    branches = expression["$cond"]
    if not isinstance(branches, list) or len(branches) != 3:
        return None
    test, when_set, otherwise = branches
    numbers = all(
        isinstance(value, int | float) and not isinstance(value, bool)
        for value in (when_set, otherwise)
    )
    if not numbers or not isinstance(test, Mapping) or set(test) != {"$gt"}:
        return None
    compared = test["$gt"]
    if not isinstance(compared, list) or len(compared) != 2 or compared[1] is not None:
        return None
    field = _top_level_field(compared[0])
    if field is None:
        return None

    def values(documents: list[Mapping[str, Any]]) -> list[Any]:
        found = []
        for document in documents:
            value = document.get(field)
            if value is None:  # missing too: null to the comparison
                found.append(otherwise)
            elif isinstance(value, _SET_VALUES) and not isinstance(value, bool):
                found.append(when_set)
            else:
                raise _Unsupported
        return found

    return values


def _group(in_collection: Iterable[Any], options: Mapping[str, Any]) -> list[dict[str, Any]]:
    from mongomock import aggregate as mongomock_aggregate
    from mongomock.filtering import BsonComparable

    operators = mongomock_aggregate._GROUPING_OPERATOR_MAP
    accumulators: list[tuple[str, Callable[[list[Any]], Any], Any]] = []
    for name, accumulator in options.items():
        if name == "_id":
            continue
        if not isinstance(accumulator, Mapping) or len(accumulator) != 1:
            raise _Unsupported
        ((operator, expression),) = accumulator.items()
        if operator not in operators:
            raise _Unsupported
        accumulators.append((name, operators[operator], _values_of(expression)))
    documents = list(in_collection)
    key = options["_id"]
    groups: dict[Any, list[Any]] = {}
    if not key:
        groups[None] = documents
    else:
        field = _top_level_field(key)
        if field is None:
            raise _Unsupported
        for document in documents:
            value = document.get(field)
            if value is not None and not isinstance(value, _GROUP_KEYS):
                raise _Unsupported
            groups.setdefault(value, []).append(document)
    rows = []
    for value in sorted(groups, key=BsonComparable):
        row = {name: operator(collect(groups[value])) for name, operator, collect in accumulators}
        row["_id"] = value
        rows.append(row)
    return rows


def install() -> None:
    from mongomock import aggregate as mongomock_aggregate

    handlers = mongomock_aggregate._PIPELINE_HANDLERS
    original: Any = handlers["$group"]
    if getattr(original, "_schoolbell_groups", False):
        return

    def group(in_collection: Any, database: Any, options: Any) -> Any:
        if isinstance(options, Mapping) and "_id" in options:
            documents = list(in_collection)
            try:
                return _group(documents, options)
            except _Unsupported:
                return original(documents, database, options)
        return original(in_collection, database, options)

    group._schoolbell_groups = True  # type: ignore[attr-defined]
    group.mongomock_own = original  # type: ignore[attr-defined]
    handlers["$group"] = group
