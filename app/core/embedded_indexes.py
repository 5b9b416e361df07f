"""The declared indexes, honoured by mongomock: a query with an equality (or `$in`) on the
leading field of an index a document declares, or a range ($gt, $gte, $lt, $lte) on the
first or second field of one, looks only at the documents that may match, instead of at
every document of the collection.

mongomock has no indexes: each find, count, update and `$lookup` applies the filter to every
stored document, so `schoolbell dev` (and the tests) slowed with every grade anyone posted:
a parent's inbox took 4 ms on the demo and 240 ms at 55,000 documents. These indexes narrow
the documents a query looks at; mongomock's own filter still decides which match, and
they are handed over in the store's order, so every answer stays what mongomock gives.

A leading field's index maps each value to the ids of the documents holding it; the first
two fields of each index are also kept in order, one order per kind of value (numbers,
strings, dates, object ids), for ranges. The narrowest condition gives the ids, the others'
indexes drop those whose keys cannot match. A document whose field is an array, an embedded
document, or lies under an array is "loose" (and one whose value has no order here,
"other"): it is looked at by every query on that field, since such values have rules of
their own. The maps follow every write: mongomock stores a document (insert, rollback,
restore) through the collection store's item assignment, removes one through item deletion,
and reports a document changed in place to `_ensure_uniques`, which app/core/embedded.py
hands on here. Built lazily, at a collection's first indexed query: documents loaded
straight into the store before that are indexed then.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from typing import Any, NamedTuple

from bson import ObjectId
from mongomock.filtering import filter_applies
from mongomock.store import CollectionStore

from app.core.embedded_ranges import RANGE_OPERATORS, Range, SortedField, range_of

# Off only in bench/embedded_scale.py, to time mongomock's own scan in the same run.
ENABLED = True
_LOOSE = object()
_NOT_INDEXED = object()
_ATTRIBUTE = "_schoolbell_indexes"


def _value_at(document: Mapping[str, Any], path: str) -> Any:
    """The value an index keeps for a document: a hashable scalar, None when missing, or
    _LOOSE when equality on it needs mongomock's own rules."""
    value: Any = document
    for part in path.split("."):
        if isinstance(value, list):
            return _LOOSE
        if not isinstance(value, Mapping):
            return None
        if part not in value:
            return None
        value = value[part]
    if isinstance(value, list | Mapping):
        return _LOOSE
    try:
        hash(value)
    except TypeError:
        return _LOOSE
    return value


def _wanted(condition: Any) -> list[Any] | None:
    """The values a filter's condition on one field asks for by equality, or None when it
    asks something else (a range, a regular expression, an array, a date: those go through
    mongomock's whole scan)."""
    if isinstance(condition, Mapping):
        if set(condition) == {"$in"} and isinstance(condition["$in"], list | tuple):
            values = list(condition["$in"])
        elif set(condition) == {"$eq"}:
            values = [condition["$eq"]]
        else:
            return None
    else:
        values = [condition]
    for value in values:
        # Dates are compared as mongomock patches their time zones; patterns and arrays
        # match by rules of their own.
        if isinstance(value, list | tuple | Mapping | re.Pattern | datetime | date):
            return None
        try:
            hash(value)
        except TypeError:
            return None
    return values


class _FieldIndex:
    __slots__ = ("buckets", "key_of", "loose", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self.buckets: dict[Any, set[Any]] = {}
        self.loose: set[Any] = set()
        self.key_of: dict[Any, Any] = {}

    def add(self, document_id: Any, document: Mapping[str, Any]) -> None:
        key = _value_at(document, self.path)
        if self.key_of.get(document_id, _NOT_INDEXED) is key:
            return
        self.remove(document_id)
        self.key_of[document_id] = key
        if key is _LOOSE:
            self.loose.add(document_id)
        else:
            self.buckets.setdefault(key, set()).add(document_id)

    def remove(self, document_id: Any) -> None:
        key = self.key_of.pop(document_id, _NOT_INDEXED)
        if key is _NOT_INDEXED:
            return
        if key is _LOOSE:
            self.loose.discard(document_id)
            return
        bucket = self.buckets.get(key)
        if bucket is not None:
            bucket.discard(document_id)
            if not bucket:
                del self.buckets[key]

    def holding(self, values: list[Any]) -> set[Any]:
        found = set(self.loose)
        for value in values:
            found |= self.buckets.get(value, set())
        return found


class _StoreIndexes:
    """The indexes of one collection store, and each document's place in its order."""

    def __init__(self, store: CollectionStore, paths: set[str], ordered_paths: set[str]) -> None:
        self.lock = threading.Lock()
        self.paths = frozenset(paths)
        self.ordered_paths = frozenset(ordered_paths)
        self.fields = {path: _FieldIndex(path) for path in paths}
        # Kept in order from the first range query on the field: most fields never see one,
        # and each kept costs every write (and seconds to build at 50,000 documents).
        self.sorted_fields: dict[str, SortedField] = {}
        self.order: dict[Any, int] = {}
        self._store = store
        self._next = itertools.count()
        for document_id, document in list(store._documents.items()):
            self._add(document_id, document)

    def _add(self, document_id: Any, document: Mapping[str, Any]) -> None:
        place = self.order.get(document_id)
        if place is None:
            place = self.order[document_id] = next(self._next)
        for index in self.fields.values():
            index.add(document_id, document)
        for field in self.sorted_fields.values():
            value = _value_at(document, field.path)
            field.add(document_id, None if value is _LOOSE else value, place)

    def _sorted_field(self, path: str) -> SortedField | None:
        """The field's values in order, built now at its first range query (lock held)."""
        if path not in self.ordered_paths:
            return None
        field = self.sorted_fields.get(path)
        if field is None:
            field = SortedField(path)
            documents = self._store._documents
            for document_id, place in self.order.items():
                value = _value_at(documents.get(document_id, {}), path)
                field.add(document_id, None if value is _LOOSE else value, place, building=True)
            field.built()
            self.sorted_fields[path] = field
        return field

    def stored(self, document_id: Any, document: Mapping[str, Any]) -> None:
        with self.lock:
            self._add(document_id, document)

    def removed(self, document_id: Any) -> None:
        with self.lock:
            self.order.pop(document_id, None)
            for index in self.fields.values():
                index.remove(document_id)
            for field in self.sorted_fields.values():
                field.remove(document_id)

    def candidates(self, filter: Mapping[str, Any]) -> Found | None:
        """The ids of the documents the filter may match, in the store's order; None when
        no index narrows it. The narrowest condition's index gives the ids; the document's
        keys in the other conditions' indexes then drop those that cannot match, without
        reading the documents."""
        with self.lock:
            conditions = list(_conditions(filter))
            lookups = [lookup for lookup in self._lookups(conditions) if lookup is not None]
            if not lookups:
                return None
            lookups.sort(key=lambda lookup: lookup.size)
            ids = lookups[0].found()
            for lookup in lookups[1:]:
                ids = {document_id for document_id in ids if lookup.may_hold(document_id)}
            ordered = sorted(ids, key=lambda document_id: self.order.get(document_id, -1))
            certain: set[Any] = set()
            checks = [lookup.certain for lookup in lookups if lookup.certain is not None]
            # Only a filter made of nothing but conditions the indexes answer exactly needs
            # no reading: then a document every one of them is sure of is a match.
            if len(checks) == len(conditions) and _only_fields(filter):
                certain = {i for i in ordered if all(check(i) for check in checks)}
            return Found(ordered, certain)

    def _lookups(self, conditions: list[tuple[str, Any]]) -> Iterator[_Lookup | None]:
        for path, condition in conditions:
            values = _wanted(condition)
            if path == "_id":
                if values is not None:
                    yield _by_id(values, self.order)
                continue
            index = self.fields.get(path)
            if values is not None and index is not None:
                yield _by_value(index, values)
                continue
            wanted = range_of(condition)
            # Sure of a match only for a condition that is nothing but a range.
            only_range = (
                wanted is not None
                and isinstance(condition, Mapping)
                and set(condition) <= RANGE_OPERATORS
            )
            if wanted is None and values is not None and len(values) == 1:
                wanted = range_of({"$gte": values[0], "$lte": values[0]})
            field = self._sorted_field(path) if wanted is not None else None
            if field is not None and wanted is not None:
                yield _by_range(field, wanted, exact=only_range)


class Found(NamedTuple):
    """The ids a filter may match, in the store's order, and those it surely matches."""

    ids: list[Any]
    certain: set[Any]


class _Lookup(NamedTuple):
    """One condition served by an index: how many ids it gives, a function giving them,
    one telling whether a document's key may match, and (when the index can be sure, for
    kinds that compare alike everywhere) one telling whether it surely does."""

    size: int
    found: Callable[[], set[Any]]
    may_hold: Callable[[Any], bool]
    certain: Callable[[Any], bool] | None


# Values whose equality means the same to a dict, to mongomock and to MongoDB (1 == True
# to a dict, not to MongoDB).
_EXACT_KINDS = (ObjectId, str)


def _by_id(values: list[Any], order: dict[Any, int]) -> _Lookup:
    wanted = set(values)
    exact = all(isinstance(value, _EXACT_KINDS) for value in values)
    return _Lookup(
        len(wanted),
        lambda: {value for value in wanted if value in order},
        wanted.__contains__,
        wanted.__contains__ if exact else None,
    )


def _by_value(index: _FieldIndex, values: list[Any]) -> _Lookup:
    size = len(index.loose) + sum(len(index.buckets.get(value, ())) for value in values)

    def may_hold(document_id: Any) -> bool:
        key = index.key_of.get(document_id, _NOT_INDEXED)
        return key is _LOOSE or key is _NOT_INDEXED or key in values

    def certain(document_id: Any) -> bool:
        key = index.key_of.get(document_id, _NOT_INDEXED)
        return isinstance(key, _EXACT_KINDS) and key in values

    exact = all(isinstance(value, _EXACT_KINDS) for value in values)
    return _Lookup(size, lambda: index.holding(values), may_hold, certain if exact else None)


def _by_range(field: SortedField, wanted: Range, *, exact: bool) -> _Lookup:
    return _Lookup(
        field.size_within(wanted),
        lambda: field.within(wanted),
        lambda document_id: field.may_hold(document_id, wanted),
        (lambda document_id: field.surely_holds(document_id, wanted)) if exact else None,
    )


def _only_fields(filter: Mapping[str, Any]) -> bool:
    """Whether the filter is only conditions on fields (in `$and`s too)."""
    for field, condition in filter.items():
        if field == "$and":
            if not isinstance(condition, list) or not all(
                isinstance(part, Mapping) and _only_fields(part) for part in condition
            ):
                return False
        elif field.startswith("$"):
            return False
    return True


def _conditions(filter: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for field, condition in filter.items():
        if field == "$and" and isinstance(condition, list):
            for part in condition:
                if isinstance(part, Mapping):
                    yield from _conditions(part)
        elif not field.startswith("$"):
            yield field, condition


def _index_paths(store: CollectionStore) -> tuple[set[str], set[str]]:
    """The fields looked up by value (leading an index) and those kept in order for ranges
    (leading an index, or second to an equality: a compound prefix)."""
    leading, ordered = set(), set()
    for index in store.indexes.values():
        keys = list(index.get("key") or [])
        for position, (field, kind) in enumerate(keys[:2]):
            if field == "_id" or kind not in (1, -1):
                continue
            if position == 0:
                leading.add(field)
            ordered.add(field)
    return leading, ordered


def _indexes_of(store: CollectionStore) -> _StoreIndexes:
    """The store's indexes, built now if they are not yet, or stale (documents loaded
    straight into the store, an index declared since)."""
    paths, ordered_paths = _index_paths(store)
    indexes: _StoreIndexes | None = getattr(store, _ATTRIBUTE, None)
    if (
        indexes is None
        or indexes.paths != paths
        or indexes.ordered_paths != ordered_paths
        or len(indexes.order) != len(store._documents)
    ):
        indexes = _StoreIndexes(store, paths, ordered_paths)
        setattr(store, _ATTRIBUTE, indexes)
    return indexes


def document_changed(store: CollectionStore, document: Mapping[str, Any]) -> None:
    """A stored document was changed in place (mongomock reports it to _ensure_uniques)."""
    indexes: _StoreIndexes | None = getattr(store, _ATTRIBUTE, None)
    if indexes is not None and "_id" in document:
        indexes.stored(document["_id"], document)


def candidate_ids(store: CollectionStore, filter: Any) -> list[Any] | None:
    """The ids of the stored documents `filter` may match (a superset), in the store's order;
    None when no index narrows it. An empty store goes to mongomock, which checks the
    filter even then."""
    found = _found(store, filter)
    return None if found is None else found.ids


def _found(store: CollectionStore, filter: Any) -> Found | None:
    if not ENABLED or not isinstance(filter, Mapping) or not filter or not store._documents:
        return None
    return _indexes_of(store).candidates(filter)


def matching(store: CollectionStore, filter: Any) -> Iterator[Mapping[str, Any]] | None:
    """The stored documents matching `filter`, looked for through an index; None when no
    index serves it."""
    found = _found(store, filter)
    if found is None:
        return None
    documents = store._documents
    certain = found.certain
    return (
        document
        for document_id, document in [(i, documents.get(i)) for i in found.ids]
        if document is not None and (document_id in certain or filter_applies(filter, document))
    )


def aggregate_from_index(aggregate: Any) -> Any:
    """mongomock's aggregate, starting from the documents an index finds for a leading
    $match rather than from a copy of the whole collection. The $match still runs on them,
    so the documents it ends with are the ones it would have kept."""

    def aggregate_indexed(self: Any, pipeline: Any, *args: Any, **kwargs: Any) -> Any:
        first = pipeline[0] if isinstance(pipeline, list) and pipeline else None
        if isinstance(first, Mapping) and set(first) == {"$match"}:
            found = candidate_ids(self._store, first["$match"])
            if found is not None:
                from mongomock import aggregate as mongomock_aggregate

                # The same copies find() hands the whole-collection path, fewer of them.
                start = list(self.find({"_id": {"$in": found}})) if found else []
                session = kwargs.get("session", args[0] if args else None)
                return mongomock_aggregate.process_pipeline(start, self.database, pipeline, session)
        return aggregate(self, pipeline, *args, **kwargs)

    return aggregate_indexed


def install() -> None:
    """Keep the indexes in step with every document the collection stores hold."""
    if getattr(CollectionStore, "_schoolbell_indexed", False):
        return
    set_item, delete_item = CollectionStore.__setitem__, CollectionStore.__delitem__
    drop, create_index, drop_index = (
        CollectionStore.drop,
        CollectionStore.create_index,
        CollectionStore.drop_index,
    )

    def __setitem__(self: CollectionStore, key: Any, value: Any) -> None:
        set_item(self, key, value)
        indexes: _StoreIndexes | None = getattr(self, _ATTRIBUTE, None)
        if indexes is not None:
            indexes.stored(key, value)

    def __delitem__(self: CollectionStore, key: Any) -> None:
        delete_item(self, key)
        indexes: _StoreIndexes | None = getattr(self, _ATTRIBUTE, None)
        if indexes is not None:
            indexes.removed(key)

    def forgetting(method: Any) -> Any:
        def changed(self: CollectionStore, *args: Any, **kwargs: Any) -> Any:
            setattr(self, _ATTRIBUTE, None)  # rebuilt at the next indexed query
            return method(self, *args, **kwargs)

        return changed

    CollectionStore.__setitem__ = __setitem__  # type: ignore[method-assign]
    CollectionStore.__delitem__ = __delitem__  # type: ignore[method-assign]
    CollectionStore.drop = forgetting(drop)  # type: ignore[method-assign]
    CollectionStore.create_index = forgetting(create_index)  # type: ignore[method-assign]
    CollectionStore.drop_index = forgetting(drop_index)  # type: ignore[method-assign]
    CollectionStore._schoolbell_indexed = True  # type: ignore[attr-defined]
