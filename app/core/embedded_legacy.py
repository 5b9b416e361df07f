"""The one JSON file earlier versions of `schoolbell dev` kept their database in: read once
into the journaled store (app/core/embedded.py), or moved aside when it cannot be read."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from bson import json_util

LEGACY_SNAPSHOT_FILE = "database.json"


class UnreadableSnapshot(Exception):
    """The JSON file of earlier versions is not one they wrote (corrupt, truncated)."""


def read_snapshot(path: Path) -> dict[str, list[dict[str, Any]]]:
    try:
        collections = json_util.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError, TypeError) as exc:  # JSONDecodeError is a ValueError
        raise UnreadableSnapshot(str(exc)[:200] or type(exc).__name__) from exc
    if not isinstance(collections, dict) or not all(
        isinstance(documents, list) and all(isinstance(d, dict) for d in documents)
        for documents in collections.values()
    ):
        raise UnreadableSnapshot("it is JSON, but not collections of documents")
    for name, documents in collections.items():
        ids = [document.get("_id") for document in documents]
        if None in ids or len({str(i) for i in ids}) != len(ids):
            raise UnreadableSnapshot(f"documents of {name} lack an _id or share one")
    return collections


def move_aside_if_unreadable(directory: Path, *, now: datetime) -> tuple[Path, str] | None:
    """A JSON database of earlier versions that cannot be read is renamed (never overwritten)
    so the next start is clean and the file is still there to repair; returns where it went
    and why."""
    path = directory / LEGACY_SNAPSHOT_FILE
    if not path.exists():
        return None
    try:
        read_snapshot(path)
    except UnreadableSnapshot as exc:
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        moved = path.with_name(f"{path.stem}.unreadable-{stamp}{path.suffix}")
        os.replace(path, moved)
        return moved, str(exc)
    return None
