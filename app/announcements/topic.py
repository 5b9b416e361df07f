"""The announcements topic: what the notification engine needs to carry an announcement,
declared here so the engine never names announcements (registered by app/producers.py)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from app.auth.models import User
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


def why_this_announcement(data: Mapping[str, Any], user: User) -> str:
    return translate(user.locale.value, "reason.announcement", school=data.get("school_name") or "")


TOPIC = TopicDeclaration(
    name=NAME,
    payload=AnnouncementPayload,
    templates=HERE / "templates",
    email_template="announcement",
    locales=HERE / "locales",
    reason=why_this_announcement,
)
