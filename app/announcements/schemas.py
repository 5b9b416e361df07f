"""Request and response bodies for announcements and their delivery figures."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.announcements.models import Announcement, AnnouncementStatus, acknowledging_roles
from app.auth.models import Role
from app.core.text import PLAIN_BODY, PLAIN_LINE
from app.core.timezones import in_utc
from app.delivery.models import Email
from app.delivery.schemas import EmailOut
from app.notifications.preferences import Priority
from app.schools.schemas import ClassAudienceIn

Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), PLAIN_LINE
]
Body = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000), PLAIN_BODY
]


class AnnouncementIn(ClassAudienceIn):
    title: Title = Field(description="Subject line of the notice")
    body: Body = Field(description="The text, plain; line breaks kept")
    priority: Priority = Field(
        default=Priority.normal,
        description="low, normal, high or critical: critical (school admins only) reaches "
        "every linked parent, even one who turned announcement email off or is in quiet "
        "hours, and its email has no unsubscribe link",
    )
    publish_at: AwareDatetime | None = Field(
        default=None, description="With a time zone; in the future it schedules the announcement"
    )

    requires_ack: bool = Field(
        default=False,
        description="Ask the addressed parents (students, for an audience without parents) "
        "to confirm they read it: POST /announcements/{id}/ack",
    )

    @model_validator(mode="after")
    def _someone_acknowledges(self) -> AnnouncementIn:
        if self.requires_ack and not acknowledging_roles([Role(r) for r in self.roles]):
            raise ValueError("requires_ack needs parents or students in the audience (roles)")
        return self

    @field_validator("publish_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return in_utc(value, "publish_at")


class AnnouncementStats(BaseModel):
    recipients: int
    in_app: int
    read: int
    email_sent: int = 0
    email_failed: int = 0
    email_pending: int = 0
    # Only for an announcement that requires acknowledgement (absent otherwise).
    acknowledged: int | None = Field(default=None, exclude_if=lambda value: value is None)
    pending: int | None = Field(default=None, exclude_if=lambda value: value is None)


class AnnouncementOut(BaseModel):
    id: str
    school_id: str
    author_id: str
    title: str
    body: str
    priority: Priority
    class_ids: list[str]
    roles: list[str]
    publish_at: datetime
    status: AnnouncementStatus
    requires_ack: bool = False
    published_at: datetime | None
    created_at: datetime
    author_name: str | None = Field(
        default=None, description="Who wrote it (kept after the author leaves)"
    )
    stats: AnnouncementStats | None = Field(
        default=None, description="Delivery figures, for the school's admins and the author"
    )

    @classmethod
    def of(
        cls,
        announcement: Announcement,
        stats: AnnouncementStats | None = None,
        author_name: str | None = None,
    ) -> AnnouncementOut:
        return cls(
            id=str(announcement.id),
            school_id=str(announcement.school_id),
            author_id=str(announcement.author_id),
            title=announcement.title,
            body=announcement.body,
            priority=announcement.priority,
            class_ids=[str(c) for c in announcement.class_ids],
            roles=[r.value for r in announcement.roles],
            publish_at=announcement.publish_at,
            status=announcement.status,
            requires_ack=announcement.requires_ack,
            published_at=announcement.published_at,
            created_at=announcement.created_at,
            stats=stats,
            author_name=author_name,
        )


class AnnouncementEmailOut(EmailOut):
    """An email in the outbox, with the announcement it carried (if it carried one)."""

    announcement_id: str | None

    @classmethod
    def about(cls, email: Email) -> dict[str, Any]:
        return {"announcement_id": str(email.source_id) if email.source_id else None}


class AcknowledgedOut(BaseModel):
    user_id: str
    full_name: str
    at: datetime


class PendingOut(BaseModel):
    user_id: str
    full_name: str


class AcksPage(BaseModel):
    """One page of the people asked to acknowledge, split by whether they have."""

    acknowledged: list[AcknowledgedOut]
    pending: list[PendingOut]
    next_cursor: str | None = None
