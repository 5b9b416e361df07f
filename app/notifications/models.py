"""Subscriptions and notifications (one per recipient per event)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Any

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field

from app.auth.models import Role, User
from app.core.security import utcnow
from app.delivery.models import Attachment
from app.notifications.preferences import Preferences
from app.notifications.topics import EmailFrequency, Priority, topics


class DigestDue(BaseModel):
    """When each digest is next due (UTC); None while no topic uses that digest."""

    daily: datetime | None = None
    weekly: datetime | None = None

    def earliest(self) -> datetime | None:
        return min((d for d in (self.daily, self.weekly) if d is not None), default=None)


class NotificationSettings(Document):
    """One person's preferences and when their digests are next due, keyed by the user's id.

    Notifications owns this; the account itself (email, locale, time zone) stays with auth.
    A user without one has the default preferences and no digest due.
    """

    id: PydanticObjectId  # always the user's id, never generated
    preferences: Preferences = Field(default_factory=Preferences)
    digest_due: DigestDue = Field(default_factory=DigestDue)
    # The earliest of digest_due, indexed: the beat scan asks who is due now, not everyone.
    next_digest_at: datetime | None = None

    class Settings:
        name = "notification_settings"
        indexes = [
            pymongo.IndexModel([("next_digest_at", 1)], name="digest_due"),
            # The scan's order: due people a page at a time, with no sort in memory.
            pymongo.IndexModel([("next_digest_at", 1), ("_id", 1)], name="digest_due_in_order"),
        ]


class TargetType(StrEnum):
    student = "student"
    class_ = "class"
    school = "school"


class Subscription(Document):
    subscriber_id: PydanticObjectId
    # Kept so a fan-out can pick parents' subscriptions without loading every subscriber.
    subscriber_role: Role
    target_type: TargetType
    target_id: PydanticObjectId
    school_id: PydanticObjectId | None = None
    # Registered topic names; a topic registered later is not followed until chosen.
    topics: list[str] = Field(default_factory=topics.names)
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "subscriptions"
        indexes = [
            pymongo.IndexModel(
                [("subscriber_id", 1), ("target_type", 1), ("target_id", 1)],
                unique=True,
                name="subscriber_target_unique",
            ),
            pymongo.IndexModel(
                [("target_type", 1), ("target_id", 1), ("subscriber_role", 1)], name="target"
            ),
            # /stats joins a school's subscriptions ($lookup on school_id), then counts
            # their subscribers.
            pymongo.IndexModel([("school_id", 1), ("subscriber_id", 1)], name="school_subscribers"),
            pymongo.IndexModel(
                [("subscriber_id", 1), ("created_at", -1), ("_id", -1)], name="subscriber_newest"
            ),
        ]


class EmailDecision(StrEnum):
    immediate = "immediate"
    digest = "digest"
    none = "none"


class Notification(Document):
    # The event this notification is for, e.g. "grade:<id>:<version>"; with the recipient
    # it is unique, so a repeated or retried fan-out can never notify anyone twice.
    event_key: str
    recipient_id: PydanticObjectId
    school_id: PydanticObjectId | None = None
    topic: str
    priority: Priority = Priority.normal
    title: str
    body: str
    data: dict[str, Any] = Field(default_factory=dict)
    # False when the recipient switched in-app off for the topic but still wants the email.
    in_app: bool = True
    email_decision: EmailDecision = EmailDecision.none
    # For digest decisions: which digest (daily or weekly) carries it.
    digest_frequency: EmailFrequency | None = None
    # Set when a digest email took it, so the next digest starts after it.
    digested_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    read_at: datetime | None = None
    # What it is about (the notice's source_id): a revision or withdrawal finds it by this.
    source_id: PydanticObjectId | None = None
    # Set when its producer withdrew what it told of: out of the inbox and every digest.
    withdrawn_at: datetime | None = None

    class Settings:
        name = "notifications"
        indexes = [
            pymongo.IndexModel(
                [("event_key", 1), ("recipient_id", 1)], unique=True, name="event_recipient_unique"
            ),
            pymongo.IndexModel(
                [("recipient_id", 1), ("in_app", 1), ("created_at", -1), ("_id", -1)],
                name="inbox_newest",
            ),
            pymongo.IndexModel(
                [("recipient_id", 1), ("in_app", 1), ("read_at", 1)], name="inbox_unread"
            ),
            pymongo.IndexModel([("school_id", 1), ("created_at", -1)], name="school_recent"),
            pymongo.IndexModel([("source_id", 1), ("recipient_id", 1)], name="source"),
            pymongo.IndexModel(
                [
                    ("recipient_id", 1),
                    ("email_decision", 1),
                    ("digest_frequency", 1),
                    ("digested_at", 1),
                    ("created_at", 1),
                    ("_id", 1),
                ],
                # Ends in _id, the digest's order: pages come off the index unsorted. A new
                # name, as keys cannot change under one (a database keeps "digest_pending").
                name="digest_pending_in_order",
            ),
        ]


@dataclass
class Notice:
    """Something that happened, told to its recipients: what a producer hands publish().

    The payload is the producer's own model (its topic declares which); its fields are what
    the topic's templates read and what the inbox keeps as `data`. The producer works out
    who hears (`recipients`); the engine picks channels by each person's preferences.
    """

    key: str
    topic: str
    payload: BaseModel
    title: str
    body: str
    recipients: list[PydanticObjectId] = field(default_factory=list)
    priority: Priority = Priority.normal
    school_id: PydanticObjectId | None = None
    actor_id: PydanticObjectId | None = None
    # What the notice is about, for the producer's own figures (its emails are found by
    # it), and what a later revision or withdrawal of it names.
    source_id: PydanticObjectId | None = None
    # Its immediate emails wait until then (a producer's grace window for second thoughts).
    send_after: datetime | None = None
    # False: email only, for those whose preferences want it (a notice of a withdrawal
    # must not add an unread item where the withdrawn one was taken away).
    in_app: bool = True
    # (title, body) by locale, for what the app words itself; people's own words (an
    # announcement's) are the same for everyone and stay in `title` and `body`.
    texts: dict[str, tuple[str, str]] = field(default_factory=dict)
    # An email that could go out only at or after this (its reader's quiet hours) is not
    # sent: the notice stays in the inbox. None: email whenever the quiet hours end.
    email_until: datetime | None = None
    # Files its immediate emails carry (the same for every reader).
    attachments: list[Attachment] = field(default_factory=list)

    def __post_init__(self) -> None:
        declared = topics.get(self.topic).payload
        if not isinstance(self.payload, declared):
            raise TypeError(f"a {self.topic} notice carries a {declared.__name__}")

    @cached_property
    def data(self) -> dict[str, Any]:
        return self.payload.model_dump(mode="json")

    def words_for(self, locale: str) -> tuple[str, str]:
        return self.texts.get(locale, (self.title, self.body))


@dataclass(frozen=True)
class Recipient:
    """Someone a notice reaches, with the preferences that decide how."""

    user: User
    preferences: Preferences


class StoredNotice(BaseModel):
    """A notice as a chunk job reads it back: everything but its key and recipients."""

    topic: str
    payload: dict[str, Any]
    title: str
    body: str
    priority: Priority
    school_id: PydanticObjectId | None = None
    actor_id: PydanticObjectId | None = None
    source_id: PydanticObjectId | None = None
    send_after: datetime | None = None
    in_app: bool = True
    texts: dict[str, tuple[str, str]] = Field(default_factory=dict)
    email_until: datetime | None = None
    attachments: list[Attachment] = Field(default_factory=list)

    @classmethod
    def of(cls, notice: Notice) -> StoredNotice:
        return cls(
            topic=notice.topic,
            payload=notice.data,
            title=notice.title,
            body=notice.body,
            priority=notice.priority,
            school_id=notice.school_id,
            actor_id=notice.actor_id,
            source_id=notice.source_id,
            send_after=notice.send_after,
            in_app=notice.in_app,
            texts=notice.texts,
            email_until=notice.email_until,
            attachments=notice.attachments,
        )

    def notice(self, key: str) -> Notice:
        return Notice(
            key=key,
            topic=self.topic,
            payload=topics.get(self.topic).payload.model_validate(self.payload),
            title=self.title,
            body=self.body,
            priority=self.priority,
            school_id=self.school_id,
            actor_id=self.actor_id,
            source_id=self.source_id,
            send_after=self.send_after,
            in_app=self.in_app,
            texts=dict(self.texts),
            email_until=self.email_until,
            attachments=list(self.attachments),
        )


class Fanout(Document):
    """A notice delivered in chunks, one job per batch of recipients (each job carries its
    batch): what the jobs need to build the notifications, and which chunks are done."""

    notice_key: str
    # A digest of its recipients in order: one fan-out per notice and audience, however often
    # its producer publishes it; an audience that changed meanwhile (a roster grew) is a
    # fan-out of its own, which skips whoever the first one reached.
    audience: str
    notice: StoredNotice
    # The time its emails were decided against (quiet hours), the same for every chunk.
    decided_at: datetime
    chunks: int
    done: list[int] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "fanouts"
        indexes = [
            pymongo.IndexModel(
                [("notice_key", 1), ("audience", 1)], unique=True, name="notice_audience"
            ),
            # Kept a while for a late re-run of its producer to find, then dropped.
            pymongo.IndexModel(
                [("created_at", 1)], expireAfterSeconds=30 * 24 * 3600, name="expiry"
            ),
        ]

    @property
    def finished(self) -> bool:
        return len(set(self.done)) >= self.chunks
