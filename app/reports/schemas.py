"""Response bodies of the figures over an admin's schools."""

from __future__ import annotations

from pydantic import BaseModel


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
