"""Events a school runs (meetings, concerts, trips), the answers families give, and the
calendar feed each person may subscribe to."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import Field

from app.auth.models import Role
from app.core.security import utcnow


class EventStatus(StrEnum):
    scheduled = "scheduled"
    cancelled = "cancelled"


class Answer(StrEnum):
    yes = "yes"
    no = "no"
    maybe = "maybe"


class RsvpStatus(StrEnum):
    # The answer stands as given (for `yes`: the places are held).
    confirmed = "confirmed"
    # A `yes` that did not fit: promoted in the order of `waitlisted_at` when places free up.
    waitlisted = "waitlisted"


class Reminder(StrEnum):
    day = "24h"
    hour = "1h"


class Event(Document):
    school_id: PydanticObjectId
    author_id: PydanticObjectId
    title: str
    description: str = ""
    place: str = ""
    starts_at: datetime
    ends_at: datetime
    class_ids: list[PydanticObjectId] = Field(default_factory=list)
    roles: list[Role] = Field(default_factory=list)
    # People (guests included) the event takes; None: as many as come.
    capacity: int | None = None
    rsvp_deadline: datetime | None = None
    status: EventStatus = EventStatus.scheduled
    # RFC 5545 SEQUENCE: raised by every change a calendar shows (time, place, cancellation).
    sequence: int = 0
    # People held by confirmed `yes` answers; changed only by conditional atomic updates,
    # so two families racing for the last place can never both get it.
    confirmed_people: int = 0
    # When the beat job next has a reminder to send (or, while a run holds it, when that
    # run's lease ends); None when nothing is left to remind of. Indexed: the scan reads
    # only due events.
    next_reminder_at: datetime | None = None
    reminders_sent: list[Reminder] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    cancelled_at: datetime | None = None

    class Settings:
        name = "events"
        indexes = [
            pymongo.IndexModel(
                [("school_id", 1), ("starts_at", -1), ("_id", -1)], name="school_by_start"
            ),
            pymongo.IndexModel([("next_reminder_at", 1)], name="reminder_due"),
            pymongo.IndexModel(
                [("author_id", 1), ("starts_at", -1), ("_id", -1)], name="author_by_start"
            ),
        ]

    @property
    def key(self) -> str:
        return f"event:{self.id}"


class Rsvp(Document):
    """One person's answer to one event."""

    event_id: PydanticObjectId
    user_id: PydanticObjectId
    answer: Answer
    status: RsvpStatus
    guests: int = 0
    comment: str = ""
    student_ids: list[PydanticObjectId] = Field(default_factory=list)
    # What the answer holds of the capacity: 1 + guests for a confirmed yes, else 0.
    people: int = 0
    waitlisted_at: datetime | None = None
    # Raised by every write: a write that finds another revision lost a race and is undone.
    revision: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "event_rsvps"
        indexes = [
            pymongo.IndexModel(
                [("event_id", 1), ("user_id", 1)], unique=True, name="event_person_unique"
            ),
            pymongo.IndexModel(
                [("event_id", 1), ("status", 1), ("waitlisted_at", 1), ("_id", 1)],
                name="waitlist_order",
            ),
            pymongo.IndexModel(
                [("event_id", 1), ("updated_at", -1), ("_id", -1)], name="event_newest"
            ),
            # Beanie 1.x keys declared indexes by their set of fields, so one on (user_id,
            # event_id) would silently replace the unique one above and never be created;
            # the _id makes the set differ. A new name: an index's keys cannot change under
            # the old one (a database may keep the old "person_answers", unused).
            pymongo.IndexModel(
                [("user_id", 1), ("event_id", 1), ("_id", 1)], name="person_answers_by_id"
            ),
        ]


class CalendarFeed(Document):
    """A person's calendar feed: its link carries `version`; a new link raises it, so every
    older link stops working."""

    id: PydanticObjectId  # the user's id
    version: int = 1
    # When this version's link was signed: signing it again at the same moment gives the
    # same link, so asking for it twice shows one URL.
    issued_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "event_calendar_feeds"
