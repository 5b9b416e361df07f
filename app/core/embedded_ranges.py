"""Ranges for the embedded store's indexes (app/core/embedded_indexes.py): a field's values
kept in order, one order per kind of value, as MongoDB compares a range only within one kind
(its type brackets). Values of any other kind (null, booleans, arrays, embedded documents,
NaN) are "other": every range query on the field looks at them, and mongomock decides.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

RANGE_OPERATORS = {"$gt", "$gte", "$lt", "$lte"}
# mongomock keeps datetimes to the millisecond, naive in UTC: a bound widened by this much
# cannot miss a document the filter matches, however either side was rounded.
_DATE_SLACK = timedelta(milliseconds=1)


def _ordered(value: Any) -> tuple[str, Any] | None:
    """A value's kind and its key in that kind's order, or None when it has no range order
    here (such documents are looked at by every range query on the field)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return ("date", value)
    if isinstance(value, ObjectId):
        return ("objectid", value)
    return None


class Range:
    """The bounds a field's condition sets by $gt/$gte/$lt/$lte, in one kind's order."""

    __slots__ = ("high", "high_open", "kind", "low", "low_open")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.low: Any = None
        self.high: Any = None
        self.low_open = self.high_open = False

    def holds(self, kind: str, key: Any) -> bool:
        if kind != self.kind:
            return False
        if self.low is not None and (key < self.low or (self.low_open and key == self.low)):
            return False
        return not (
            self.high is not None and (key > self.high or (self.high_open and key == self.high))
        )


def range_of(condition: Any) -> Range | None:
    """The range a field's condition asks for (its other operators left to mongomock), or
    None when it sets none, or bounds of different kinds."""
    if not isinstance(condition, Mapping):
        return None
    found: Range | None = None
    for operator in RANGE_OPERATORS & set(condition):
        ordered = _ordered(condition[operator])
        if ordered is None:
            return None
        kind, key = ordered
        if found is None:
            found = Range(kind)
        elif found.kind != kind:
            return None
        slack = _DATE_SLACK if kind == "date" else None
        # Of two bounds on one side the tighter holds; at the same key, the open one.
        if operator in ("$gt", "$gte"):
            key = key - slack if slack else key
            is_open = operator == "$gt" and not slack
            if found.low is None or key > found.low:
                found.low, found.low_open = key, is_open
            elif key == found.low:
                found.low_open = found.low_open or is_open
        else:
            key = key + slack if slack else key
            is_open = operator == "$lt" and not slack
            if found.high is None or key < found.high:
                found.high, found.high_open = key, is_open
            elif key == found.high:
                found.high_open = found.high_open or is_open
    return found


class SortedField:
    """A field's values in order, kind by kind, for range lookups: entries (key, place, id),
    the place (the document's number in the store) keeping equal keys apart."""

    __slots__ = ("entry_of", "other", "path", "sorted")

    def __init__(self, path: str) -> None:
        self.path = path
        self.sorted: dict[str, list[tuple[Any, int, Any]]] = {}
        self.entry_of: dict[Any, tuple[str, tuple[Any, int, Any]] | None] = {}
        self.other: set[Any] = set()

    def add(self, document_id: Any, value: Any, place: int, *, building: bool = False) -> None:
        """Keep the document's value (None for one with no order: loose, missing, ...).
        While `building`, entries are only appended: `built` sorts them once."""
        ordered = None if value is None else _ordered(value)
        entry = None if ordered is None else (ordered[0], (ordered[1], place, document_id))
        if document_id in self.entry_of and self.entry_of[document_id] == entry:
            return
        self.remove(document_id)
        self.entry_of[document_id] = entry
        if entry is None:
            self.other.add(document_id)
        elif building:
            self.sorted.setdefault(entry[0], []).append(entry[1])
        else:
            bisect.insort(self.sorted.setdefault(entry[0], []), entry[1])

    def built(self) -> None:
        """Sort what was appended while building (one sort: inserting each in its place
        took seconds at 50,000 documents)."""
        for entries in self.sorted.values():
            entries.sort()

    def remove(self, document_id: Any) -> None:
        if document_id not in self.entry_of:
            return
        entry = self.entry_of.pop(document_id)
        if entry is None:
            self.other.discard(document_id)
            return
        entries = self.sorted[entry[0]]
        at = bisect.bisect_left(entries, entry[1])
        if at < len(entries) and entries[at] == entry[1]:
            del entries[at]

    def _span(self, wanted: Range) -> tuple[list[tuple[Any, int, Any]], int, int]:
        entries = self.sorted.get(wanted.kind, [])
        # (key,) sorts before every (key, place, id) and after every smaller key.
        start = 0
        if wanted.low is not None:
            find = bisect.bisect_right if wanted.low_open else bisect.bisect_left
            start = find(entries, (wanted.low, math.inf if wanted.low_open else -1))
        end = len(entries)
        if wanted.high is not None:
            find = bisect.bisect_left if wanted.high_open else bisect.bisect_right
            end = find(entries, (wanted.high, -1 if wanted.high_open else math.inf))
        return entries, start, max(start, end)

    def size_within(self, wanted: Range) -> int:
        _entries, start, end = self._span(wanted)
        return end - start + len(self.other)

    def within(self, wanted: Range) -> set[Any]:
        entries, start, end = self._span(wanted)
        return {entry[2] for entry in entries[start:end]} | self.other

    def surely_holds(self, document_id: Any, wanted: Range) -> bool:
        """Whether the document's value is surely in the range asked for (dates near a
        bound, where rounding decides, are left to mongomock)."""
        entry = self.entry_of.get(document_id)
        if entry is None or entry[0] != wanted.kind:
            return False
        key = entry[1][0]
        if wanted.kind != "date":
            return wanted.holds(entry[0], key)
        low = None if wanted.low is None else wanted.low + 2 * _DATE_SLACK
        high = None if wanted.high is None else wanted.high - 2 * _DATE_SLACK
        return (low is None or key > low) and (high is None or key < high)

    def may_hold(self, document_id: Any, wanted: Range) -> bool:
        entry = self.entry_of.get(document_id)
        return entry is None or wanted.holds(entry[0], entry[1][0])
