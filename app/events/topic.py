"""The events topic: what the notification engine needs to carry an event notice, declared
here so the engine never names events (registered by app/producers.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from app.auth.models import User
from app.core.config import get_settings
from app.core.i18n import format_datetime, translate
from app.events import links
from app.events.models import Answer
from app.notifications.topics import TopicDeclaration

NAME = "events"
HERE = Path(__file__).parent


class NoticeKind(StrEnum):
    published = "published"
    changed = "changed"
    cancelled = "cancelled"
    reminder = "reminder"
    promoted = "promoted"


class EventPayload(BaseModel):
    """What an event notice says; the event templates and the inbox's `data` read these."""

    event_id: str
    kind: NoticeKind
    # The author's words, as they wrote them (the notice's title adds what happened).
    event_title: str
    school_name: str | None = None
    author_name: str | None = None
    place: str = ""
    description: str = ""
    starts_at: str
    ends_at: str
    # "24h" or "1h" for a reminder.
    reminder: str | None = None
    # Whether the email offers the one-click answer buttons (the event takes answers).
    answerable: bool = False


def why_this_event(data: Mapping[str, Any], user: User) -> str:
    return translate(user.locale.value, "reason.event", school=data.get("school_name") or "")


def for_this_reader(data: Mapping[str, Any], user: User) -> dict[str, str | None]:
    """The start in the reader's own zone and language, and their own answer links."""
    assert user.id is not None
    settings = get_settings()
    event_id = str(data["event_id"])
    when = format_datetime(
        datetime.fromisoformat(str(data["starts_at"])), user.locale.value, user.timezone
    )
    return {
        "when": when,
        "yes_url": links.answer_url(
            settings=settings, user_id=user.id, event_id=event_id, answer=Answer.yes
        ),
        "no_url": links.answer_url(
            settings=settings, user_id=user.id, event_id=event_id, answer=Answer.no
        ),
    }


TOPIC = TopicDeclaration(
    name=NAME,
    payload=EventPayload,
    templates=HERE / "templates",
    email_template="event",
    locales=HERE / "locales",
    reason=why_this_event,
    reader_values=for_this_reader,
)
