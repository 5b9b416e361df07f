"""Patches that make mongomock fast enough for `schoolbell dev` and the tests, changing no
result: unique checks skipped for documents whose unique keys did not change, queries by
_id that look at those documents only, and a linear $unwind.

Installed by app/core/embedded.py, on import, before any collection exists.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from bson import ObjectId
from mongomock.filtering import filter_applies
from mongomock.helpers import get_value_by_dot

from app.core import embedded_indexes

# mongomock has no indexes: each write checks every unique index by scanning the whole
# collection, and each write by _id scans it to find the document. At the outbox's size
# (thousands of emails, each written three times on its way out) that was most of a send's
# time in `dev` and the tests. Two shortcuts that change no result:
#
# - an update that leaves a document's unique keys as they were when last checked cannot
#   break uniqueness (any other document written since with those keys was checked
#   against this one), so it is not checked again. mongomock updates the stored document
#   in place, so "the same document" is the same object; an insert is always a new one.
# - a query on one _id looks at that document only, then applies the whole filter to it;
#   other queries look only at the documents a declared index finds (embedded_indexes).
_MAX_REMEMBERED_CHECKS = 200_000
_checked_keys: dict[int, tuple[Any, Any]] = {}


def unique_keys(collection: Any, document: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        (name, tuple(_value_at(document, field) for field, _ in index.get("key", ())))
        for name, index in collection._store.indexes.items()
        if index.get("unique")
    )


def _value_at(document: dict[str, Any], path: str) -> Any:
    try:
        return get_value_by_dot(document, path)
    except KeyError:
        return None


def checked_before(document: dict[str, Any], keys: tuple[Any, ...]) -> bool:
    remembered = _checked_keys.get(id(document))
    return remembered is not None and remembered[0] is document and remembered[1] == keys


def remember_checked(document: dict[str, Any], keys: tuple[Any, ...]) -> None:
    if len(_checked_keys) >= _MAX_REMEMBERED_CHECKS:
        _checked_keys.clear()  # only a saving: what is forgotten is checked again
    # The document itself is kept, so its id() cannot name another while remembered.
    _checked_keys[id(document)] = (document, keys)


def by_id_first(iter_documents: Any) -> Any:
    def by_id_first(self: Any, filter: Any) -> Any:
        wanted = filter.get("_id") if isinstance(filter, Mapping) else None
        if isinstance(wanted, ObjectId):
            try:
                document = self._store[wanted]
            except KeyError:
                return iter(())
            return iter([document] if filter_applies(filter, document) else [])
        found = embedded_indexes.matching(self._store, filter)
        if found is not None:
            return found
        return iter_documents(self, filter)

    return by_id_first


def install_linear_unwind() -> None:
    """Make mongomock's $unwind of a top-level array linear instead of quadratic.

    mongomock deep-copies the whole document, array included, for every element it emits:
    unwinding a $lookup of n documents copies n * n of them (2,600 notifications took 140 s).
    This emits the same documents in the same order, copying the array's element and the
    document's other fields once per element. Other forms go to mongomock's own handler.
    """
    from mongomock import aggregate as mongomock_aggregate

    handlers = mongomock_aggregate._PIPELINE_HANDLERS
    original: Any = handlers["$unwind"]
    if getattr(original, "_schoolbell_linear", False):
        return

    def unwind(in_collection: Any, database: Any, options: Any) -> Any:
        path = options if isinstance(options, str) else None
        if path is None or not path.startswith("$") or "." in path:
            return original(in_collection, database, options)
        field = path[1:]
        unwound = []
        for document in in_collection:
            value = document.get(field)
            if value is None or value == []:
                continue  # a missing, null or empty array yields nothing (no preserve option)
            for item in value if isinstance(value, list) else [value]:
                unwound.append(
                    {
                        key: copy.deepcopy(item if key == field else other)
                        for key, other in document.items()
                    }
                )
        return unwound

    unwind._schoolbell_linear = True  # type: ignore[attr-defined]
    handlers["$unwind"] = unwind
