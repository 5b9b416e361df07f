"""Joins on the embedded store as MongoDB runs them: a `$lookup` directly followed by an
`$unwind` of its field (and a `$match` on the joined fields) becomes one query per input
document, through the declared indexes, rather than every joined document copied into an
array, copied again by `$unwind` and filtered afterwards.

mongomock runs the stages one by one. For `/stats` at 100,000 documents that meant copying
every notification and email of the school twice (and making each one's dates time-zone
aware and naive again) to count those of the last day: 30-39 s, during which nothing else
was served. The joins app/core/db.py writes (`joined`, `having_joined`) take this path:

- the `$match` on the joined fields joins the lookup's own query, so a range on a declared
  index (the school's notifications since yesterday) reads only the documents in it;
- when the joined documents replace the input (`$replaceRoot`) and go straight into a
  `$group` or `$count`, which only read them, the stored documents are read in place and
  only the (few) rows those stages make are copied, as a find would hand them over.

Every other pipeline goes to mongomock's own stages. The rows are those mongomock gives.
Installed by app/core/embedded.py, on import.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from mongomock import helpers

_JOIN = "$schoolbellJoin"
_READ_ONLY_NEXT = {"$group", "$count"}


def _plain_lookup(stage: Mapping[str, Any]) -> dict[str, str] | None:
    """The options of a `$lookup` on local and foreign fields only, else None."""
    if set(stage) != {"$lookup"}:
        return None
    options = stage["$lookup"]
    wanted = {"from", "localField", "foreignField", "as"}
    if not isinstance(options, Mapping) or set(options) != wanted:
        return None
    if not all(isinstance(value, str) for value in options.values()):
        return None
    into = options["as"]
    if not into or "." in into or into.startswith("$") or options["localField"].startswith("$"):
        return None
    return dict(options)


def _joined_match(stage: Mapping[str, Any], into: str) -> dict[str, Any] | None:
    """A `$match` on fields of the joined document only, as the joined document's filter."""
    if set(stage) != {"$match"} or not isinstance(stage["$match"], Mapping):
        return None
    prefix = f"{into}."
    match = stage["$match"]
    if not match or not all(isinstance(k, str) and k.startswith(prefix) for k in match):
        return None
    return {key[len(prefix) :]: value for key, value in match.items()}


def fuse(pipeline: list[Any]) -> list[Any]:
    """The pipeline with each join the store can run as one indexed query put as one stage."""
    fused: list[Any] = []
    at = 0
    while at < len(pipeline):
        stage = pipeline[at]
        lookup = _plain_lookup(stage) if isinstance(stage, Mapping) else None
        into = lookup["as"] if lookup else ""
        if lookup is None or pipeline[at + 1 : at + 2] != [{"$unwind": f"${into}"}]:
            fused.append(stage)
            at += 1
            continue
        at += 2
        match = _joined_match(pipeline[at], into) if at < len(pipeline) else None
        at += match is not None
        replaced = pipeline[at : at + 1] == [{"$replaceRoot": {"newRoot": f"${into}"}}]
        at += replaced
        then = pipeline[at] if replaced and at < len(pipeline) else None
        if not (isinstance(then, Mapping) and len(then) == 1 and set(then) & _READ_ONLY_NEXT):
            then = None
        at += then is not None
        options = {**lookup, "match": match or {}, "replaced": replaced, "then": then}
        fused.append({_JOIN: options})
    return fused


def _query(options: Mapping[str, Any], document: Mapping[str, Any]) -> dict[str, Any]:
    """The lookup's query for one input document, as mongomock's $lookup writes it."""
    try:
        value = helpers.get_value_by_dot(document, options["localField"])
    except KeyError:
        value = None
    if isinstance(value, list):
        value = {"$in": value}
    query = {options["foreignField"]: value}
    return {"$and": [query, options["match"]]} if options["match"] else query


def _join(in_collection: Iterable[Any], database: Any, options: Mapping[str, Any]) -> list[Any]:
    from mongomock import aggregate as mongomock_aggregate

    foreign = database[options["from"]]
    into = options["as"]
    if options["then"] is not None:
        # Read in place: stored documents, filtered as find filters them, never changed by
        # the stage reading them; its rows are copied as find would copy documents.
        stored = [
            document
            for source in in_collection
            for document in foreign._iter_documents(
                helpers.patch_datetime_awareness_in_document(_query(options, source))
            )
        ]
        rows = mongomock_aggregate.process_pipeline(stored, database, [options["then"]], None)
        copies = [copy.deepcopy(row) for row in rows]
        if foreign.codec_options.tz_aware:
            copies = [helpers.make_datetime_timezone_aware_in_document(row) for row in copies]
        return copies
    joined: list[Any] = []
    for source in in_collection:
        for found in foreign.find(_query(options, source)):
            if options["replaced"]:
                joined.append(found)
                continue
            row = dict(source)
            row[into] = found
            joined.append(
                {key: value if key == into else copy.deepcopy(value) for key, value in row.items()}
            )
    return joined


def install() -> None:
    """Run the joins of every aggregation through `_join` (including those in a `$facet`)."""
    from mongomock import aggregate as mongomock_aggregate

    process_pipeline = mongomock_aggregate.process_pipeline
    if getattr(process_pipeline, "_schoolbell_joins", False):
        return

    def process_fused(collection: Any, database: Any, pipeline: Any, session: Any) -> Any:
        if isinstance(pipeline, list):
            pipeline = fuse(pipeline)
        return process_pipeline(collection, database, pipeline, session)

    process_fused._schoolbell_joins = True  # type: ignore[attr-defined]
    process_fused.mongomock_own = process_pipeline  # type: ignore[attr-defined]
    mongomock_aggregate.process_pipeline = process_fused
    mongomock_aggregate._PIPELINE_HANDLERS[_JOIN] = _join
