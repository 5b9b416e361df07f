"""Reading each person's notification settings, and moving them out of legacy user records.

Settings are stored only once a person changes something; until then the defaults apply,
so reading many people's settings is one query for those who have a document.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from beanie import PydanticObjectId
from pydantic import ValidationError

from app.auth import directory
from app.notifications import repository
from app.notifications.models import NotificationSettings

log = logging.getLogger(__name__)

MIGRATION_BATCH = 500


async def settings_of(user_id: PydanticObjectId) -> NotificationSettings:
    """The person's settings: stored ones, or the defaults."""
    stored = await NotificationSettings.get(user_id)
    return stored if stored is not None else NotificationSettings(id=user_id)


async def settings_for(
    user_ids: Sequence[PydanticObjectId],
) -> dict[PydanticObjectId, NotificationSettings]:
    """Settings of a batch of people (a fan-out batch: bounded by its caller), one query."""
    found = {
        s.id: s for s in await NotificationSettings.find({"_id": {"$in": list(user_ids)}}).to_list()
    }
    return {uid: found.get(uid) or NotificationSettings(id=uid) for uid in user_ids}


@dataclass(frozen=True)
class Adopted:
    """What a run of adopt_embedded_preferences did."""

    moved: int
    # Records whose embedded preferences do not validate: logged and left in place.
    refused: int


async def adopt_embedded_preferences(*, batch: int = MIGRATION_BATCH) -> Adopted:
    """Move preferences and digest times still embedded in user records (data written before
    notifications had a collection of its own) into settings documents.

    Safe to repeat and to interrupt: a settings document already there (the person changed
    something since) wins, and a user's old fields are dropped only after their copy exists.
    A record that does not validate is named in the log and keeps its fields, so nothing is
    lost and the others still move; the person has the defaults until it is fixed.
    """
    moved = refused = 0
    after: PydanticObjectId | None = None
    while legacy := await directory.users_with_moved_out_fields(after=after, limit=batch):
        after = PydanticObjectId(legacy[-1]["_id"])
        documents: list[dict[str, Any]] = []
        for row in legacy:
            fields = {k: row[k] for k in directory.MOVED_OUT_FIELDS if row.get(k) is not None}
            try:
                settings = NotificationSettings.model_validate({"_id": row["_id"], **fields})
            except ValidationError as exc:
                refused += 1
                log.error(
                    "user %s: embedded preferences do not validate, left in place: %s",
                    row["_id"],
                    exc.errors(include_url=False),
                )
                continue
            documents.append(settings.model_dump(by_alias=True, mode="python"))
        # An existing settings document (the person changed something since) is kept.
        await repository.insert_settings_ignoring_existing(documents)
        await directory.drop_moved_out_fields([d["_id"] for d in documents])
        moved += len(documents)
    return Adopted(moved=moved, refused=refused)
