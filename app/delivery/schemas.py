"""What a person reads about an email in the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel

from app.delivery.models import Email, EmailKind, EmailStatus


class EmailOut(BaseModel):
    id: str
    to: str
    recipient_id: str | None
    kind: EmailKind
    subject: str
    status: EmailStatus
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    created_at: datetime
    school_id: str | None

    @classmethod
    def of(cls, email: Email) -> Self:
        waiting = email.status in (EmailStatus.pending, EmailStatus.failed)
        return cls(
            **cls.about(email),
            id=str(email.id),
            to=email.to,
            recipient_id=str(email.recipient_id) if email.recipient_id else None,
            kind=email.kind,
            subject=email.subject,
            status=email.status,
            attempts=email.attempts,
            last_error=email.last_error,
            next_attempt_at=email.next_attempt_at if waiting else None,
            sent_at=email.sent_at,
            created_at=email.created_at,
            school_id=str(email.school_id) if email.school_id else None,
        )

    @classmethod
    def about(cls, email: Email) -> dict[str, Any]:
        """Fields a subclass adds from what the email is about (its `source_id`)."""
        return {}


class Requeued(BaseModel):
    requeued: int
