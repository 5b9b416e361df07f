"""Changes to stored data that run once per database, whichever process starts first.

The record of a finished migration lets every later start skip it with one lookup instead
of scanning a collection for work long done. Migrations are idempotent, so two processes
starting together may both run one; the record is only a shortcut.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from beanie import Document
from pydantic import Field

from app.core.db import DuplicateKeyError
from app.core.security import utcnow

log = logging.getLogger(__name__)


class MigrationRecord(Document):
    """A migration that finished with nothing left to do."""

    id: str  # type: ignore[assignment]  # the migration's name, not a generated id
    done_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "migrations"


async def run_once(name: str, migration: Callable[[], Awaitable[bool]]) -> bool:
    """Run `migration` unless it finished before; it returns whether it is complete (False
    leaves it to run again at the next start). Returns whether it ran now."""
    if await MigrationRecord.get(name) is not None:
        return False
    if await migration():
        # Another process may have finished it at the same time.
        with contextlib.suppress(DuplicateKeyError):
            await MigrationRecord(id=name).insert()
    else:
        log.warning("migration %s is not complete; it runs again at the next start", name)
    return True
