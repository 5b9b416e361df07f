"""The outbox: every email is written here first, then sent by a worker."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field, model_validator

from app.core.security import utcnow


class EmailKind(StrEnum):
    immediate = "immediate"
    digest = "digest"
    account = "account"


class EmailStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    dead = "dead"


class Attachment(BaseModel):
    """A text file an email carries besides its bodies (an .ics invitation)."""

    filename: str
    content_type: str
    content: str


class Email(Document):
    # Deterministic per send ("notification:<event>:<user>", "digest:daily:<user>:<date>"…):
    # the unique index makes a second copy of the same email impossible.
    idempotency_key: str
    kind: EmailKind
    to: str
    recipient_id: PydanticObjectId | None = None
    subject: str
    text: str
    html: str
    headers: dict[str, str] = Field(default_factory=dict)
    status: EmailStatus = EmailStatus.pending
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    # When it first fell due (its first next_attempt_at); a retry never moves it, so the
    # outbox's oldest-due age counts the whole wait of mail that is stuck.
    due_at: datetime = Field(default_factory=utcnow)
    # While `sending`: the claim expires then, and the sweep hands it to another worker.
    lease_until: datetime | None = None
    # Names the claim being sent: a verdict is written only while this is still the claim,
    # so a sender that outlived its lease cannot settle a newer one.
    lease_token: str | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    school_id: PydanticObjectId | None = None
    # What the email is about, for its producer's figures (the producer knows what kind).
    source_id: PydanticObjectId | None = None
    notification_ids: list[PydanticObjectId] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)

    @model_validator(mode="before")
    @classmethod
    def _due_when_first_tried(cls, data: Any) -> Any:
        # Written without one (before it existed, or by hand): due when first to be tried.
        if isinstance(data, dict) and "due_at" not in data and "next_attempt_at" in data:
            data = {**data, "due_at": data["next_attempt_at"]}
        return data

    class Settings:
        name = "emails"
        indexes = [
            pymongo.IndexModel([("idempotency_key", 1)], unique=True, name="idempotency_unique"),
            pymongo.IndexModel([("status", 1), ("next_attempt_at", 1)], name="due"),
            pymongo.IndexModel([("status", 1), ("lease_until", 1)], name="lease"),
            pymongo.IndexModel([("status", 1), ("due_at", 1)], name="waiting_since"),
            # What one announcement (or other source) sent, in given statuses, newest first:
            # its emails page on it with no sort in memory (it also serves "source").
            pymongo.IndexModel(
                [("source_id", 1), ("status", 1), ("created_at", -1), ("_id", -1)],
                name="source_status_newest",
            ),
            pymongo.IndexModel([("school_id", 1), ("created_at", -1)], name="school_recent"),
            # The admin's failed and dead emails of their schools, newest first.
            pymongo.IndexModel(
                [("school_id", 1), ("status", 1), ("created_at", -1), ("_id", -1)],
                name="school_status_newest",
            ),
        ]
