"""Announcements to a school, some classes and/or some roles, now or at a set time."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import Field

from app.auth.models import Role
from app.core.security import utcnow
from app.notifications.preferences import Priority


class AnnouncementStatus(StrEnum):
    scheduled = "scheduled"
    publishing = "publishing"
    published = "published"
    cancelled = "cancelled"


class Announcement(Document):
    school_id: PydanticObjectId
    author_id: PydanticObjectId
    title: str
    body: str
    priority: Priority = Priority.normal
    class_ids: list[PydanticObjectId] = Field(default_factory=list)
    roles: list[Role] = Field(default_factory=list)
    publish_at: datetime
    status: AnnouncementStatus
    # "<author id>:<Idempotency-Key>"; absent without the header (sparse unique index).
    idempotency_scope: str | None = None
    request_fingerprint: str | None = None
    recipients: int = 0
    # Parents (or students, for student audiences) are asked to confirm they read it.
    requires_ack: bool = False
    # When those who had not acknowledged were last reminded: at most once an hour.
    last_reminded_at: datetime | None = None
    publishing_since: datetime | None = None
    published_at: datetime | None = None
    cancelled_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "announcements"
        # Leaves idempotency_scope out of the document when unset, so the sparse index skips it.
        keep_nulls = False
        indexes = [
            pymongo.IndexModel(
                [("idempotency_scope", 1)], unique=True, sparse=True, name="idempotency_unique"
            ),
            # Also what someone was notified of: their own schools' announcements are walked
            # newest first on it (service.list_announcements), stopped when a page is full.
            pymongo.IndexModel(
                [("school_id", 1), ("created_at", -1), ("_id", -1)], name="school_newest"
            ),
            pymongo.IndexModel([("status", 1), ("publish_at", 1)], name="due"),
            pymongo.IndexModel([("author_id", 1), ("created_at", -1)], name="author_newest"),
            # A teacher's own announcements page on it: it ends in the tie-breaker (a new
            # name, as keys cannot change under "author_newest").
            pymongo.IndexModel(
                [("author_id", 1), ("created_at", -1), ("_id", -1)], name="author_newest_by_id"
            ),
        ]

    @property
    def event_key(self) -> str:
        return f"announcement:{self.id}"


def acknowledging_roles(roles: list[Role]) -> set[Role]:
    """Who confirms reading an announcement to these roles: parents when they are in its
    audience, else students when they are; teachers never do."""
    wanted = set(roles) or {Role.student, Role.teacher, Role.parent}
    if Role.parent in wanted:
        return {Role.parent}
    if Role.student in wanted:
        return {Role.student}
    return set()


class Acknowledgement(Document):
    """One person asked to confirm they read an announcement, written when it goes out;
    `acknowledged_at` is set once they do."""

    announcement_id: PydanticObjectId
    user_id: PydanticObjectId
    acknowledged_at: datetime | None = None

    class Settings:
        name = "announcement_acks"
        indexes = [
            # One per person: a double-click or a repeated fan-out never makes a second.
            pymongo.IndexModel(
                [("announcement_id", 1), ("user_id", 1)], unique=True, name="one_per_person"
            ),
            # The acks list pages on it; the counts and the reminder's pending walk use it.
            pymongo.IndexModel(
                [("announcement_id", 1), ("acknowledged_at", 1), ("_id", 1)], name="by_state"
            ),
            pymongo.IndexModel([("announcement_id", 1), ("_id", 1)], name="in_order"),
        ]
