"""The announcements topic: what the notification engine needs to carry an announcement,
declared here so the engine never names announcements (registered by app/producers.py)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from app.announcements.links import ack_url
from app.auth.models import User
from app.core.config import get_settings
from app.core.i18n import translate
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


TOPIC = TopicDeclaration(
    name=NAME,
    payload=AnnouncementPayload,
    templates=HERE / "templates",
    email_template="announcement",
    locales=HERE / "locales",
    reason=why_this_announcement,
    reader_values=reader_links,
)
