"""Reading each person's notification settings, and moving them out of legacy user records.

Settings are stored only once a person changes something; until then the defaults apply,
so reading many people's settings is one query for those who have a document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from beanie import PydanticObjectId

from app.auth import service as accounts
from app.core.db import collection, insert_many_ignoring_duplicates
from app.notifications.models import NotificationSettings

# Where preferences and digest times lived while they were embedded in the user.
LEGACY_USER_FIELDS = ("preferences", "digest_due", "next_digest_at")
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


async def adopt_embedded_preferences(*, batch: int = MIGRATION_BATCH) -> int:
    """Move preferences and digest times still embedded in user records (data written before
    notifications had a collection of its own) into settings documents; returns how many.

    Safe to repeat and to interrupt: a settings document already there (the person changed
    something since) wins, and a user's old fields are dropped only after their copy exists.
    """
    moved = 0
    while legacy := await accounts.users_with_legacy_fields(LEGACY_USER_FIELDS, limit=batch):
        documents: list[dict[str, Any]] = []
        for row in legacy:
            settings = NotificationSettings.model_validate(
                {"_id": row["_id"], **{k: row[k] for k in LEGACY_USER_FIELDS if row.get(k)}}
            )
            documents.append(settings.model_dump(by_alias=True, mode="python"))
        # An existing settings document (the person changed something since) is kept.
        await insert_many_ignoring_duplicates(collection(NotificationSettings), documents)
        await accounts.drop_legacy_fields([row["_id"] for row in legacy], LEGACY_USER_FIELDS)
        moved += len(legacy)
    return moved
