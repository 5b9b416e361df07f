"""The announcements topic: what the notification engine needs to carry an announcement,
declared here so the engine never names announcements (registered by app/producers.py)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from beanie import PydanticObjectId
from pydantic import BaseModel

from app.announcements import repository
from app.announcements.links import ack_url
from app.auth.models import User
from app.core.config import get_settings
from app.core.i18n import translate
from app.core.security import utcnow
from app.notifications import service as notifications
from app.notifications.topics import TopicDeclaration

NAME = "announcements"
HERE = Path(__file__).parent


class AnnouncementPayload(BaseModel):
    """What an announcement notice carries besides its title and body (the author's words)."""

    announcement_id: str | None = None
    school_id: str | None = None
    school_name: str | None = None
    author_name: str | None = None
    # Whether readers in `ack_roles` are asked to confirm they read it (their email has
    # an "I have read this" button), and whether this notice reminds them.
    requires_ack: bool = False
    ack_roles: list[str] = []
    reminder: bool = False


def why_this_announcement(data: Mapping[str, Any], user: User) -> str:
    return translate(user.locale.value, "reason.announcement", school=data.get("school_name") or "")


def reader_links(data: Mapping[str, Any], user: User) -> dict[str, str | None]:
    """The reader's own signed "I have read this" link, when they are asked for one."""
    asked = (
        data.get("requires_ack")
        and user.role.value in data.get("ack_roles", [])
        and data.get("announcement_id")
        and user.id is not None
    )
    if not asked:
        return {"ack_url": None}
    assert user.id is not None
    link = ack_url(
        settings=get_settings(), user_id=user.id, announcement_id=str(data["announcement_id"])
    )
    return {"ack_url": link}


async def announcement_delivered(notice_key: str, source_id: PydanticObjectId | None) -> None:
    """Every recipient has the announcement: it is published, with how many it reached.
    A reminder (its own key, no source) changes nothing."""
    announcement = await repository.get(source_id) if source_id is not None else None
    if announcement is None or notice_key != announcement.event_key:
        return
    # Who was reached, not who was expanded: soft-deleted roster members and people who
    # turned both channels off got nothing. Counted after the writes, so a re-run agrees.
    reached = await notifications.count_for_event(announcement.event_key)
    await repository.mark_published(
        announcement.id, recipients=reached, published_at=announcement.published_at or utcnow()
    )


TOPIC = TopicDeclaration(
    name=NAME,
    payload=AnnouncementPayload,
    templates=HERE / "templates",
    email_template="announcement",
    locales=HERE / "locales",
    reason=why_this_announcement,
    reader_values=reader_links,
    delivered=announcement_delivered,
)
