"""The messages topic: what the notification engine needs to carry a new-message notice,
declared here so the engine never names messages (registered by app/producers.py)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from app.auth.models import User
from app.core.i18n import translate
from app.notifications.topics import TopicDeclaration

NAME = "messages"
HERE = Path(__file__).parent


class MessagePayload(BaseModel):
    """What a new-message notice says; the message templates and the inbox's `data` read
    these fields. `text` is the sender's own words, the same in every language."""

    conversation_id: str
    message_id: str
    sender_id: str
    sender_name: str
    subject: str
    text: str
    school_name: str | None = None


def why_this_message(data: Mapping[str, Any], user: User) -> str:
    return translate(user.locale.value, "reason.message", sender=data.get("sender_name") or "")


TOPIC = TopicDeclaration(
    name=NAME,
    payload=MessagePayload,
    templates=HERE / "templates",
    email_template="message",
    locales=HERE / "locales",
    reason=why_this_message,
)
