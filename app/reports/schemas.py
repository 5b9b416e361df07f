"""Response bodies of the figures over an admin's schools."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from app.delivery.models import Email
from app.delivery.schemas import EmailOut


class NotificationFigures(BaseModel):
    total: int
    read: int
    unread: int
    by_topic: dict[str, int]


class EmailFigures(BaseModel):
    pending: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0


class Stats(BaseModel):
    school_ids: list[str]
    active_subscribers: int
    users_by_role: dict[str, int]
    notifications_last_24h: NotificationFigures
    emails_last_24h: EmailFigures


class ReportedEmailOut(EmailOut):
    """An email in the outbox, with the announcement it carried (if it carried one)."""

    announcement_id: str | None

    @classmethod
    def about(cls, email: Email) -> dict[str, Any]:
        return {"announcement_id": str(email.source_id) if email.source_id else None}
