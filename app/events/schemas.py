"""Request and response bodies for events and their answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.core.db import ObjectIdField
from app.core.text import PLAIN_BODY, PLAIN_LINE
from app.core.timezones import in_utc
from app.events.models import Answer, Event, EventStatus, Rsvp, RsvpStatus
from app.schools.schemas import ClassAudienceIn

Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), PLAIN_LINE
]
Place = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300), PLAIN_LINE]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=10_000), PLAIN_BODY
]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000), PLAIN_BODY]
Capacity = Annotated[int, Field(ge=1, le=100_000, description="People, guests included")]
MAX_GUESTS = 10


class EventIn(ClassAudienceIn):
    title: Title = Field(description="What the event is, as people will read it")
    description: Description = Field(default="", description="More about it, plain text")
    place: Place = Field(default="", description="Where it happens")
    starts_at: AwareDatetime = Field(
        description="With a time zone", examples=["2030-09-14T18:00:00+03:00"]
    )
    ends_at: AwareDatetime = Field(
        description="With a time zone; after starts_at", examples=["2030-09-14T19:30:00+03:00"]
    )
    capacity: Capacity | None = Field(default=None, description="People, guests included")
    rsvp_deadline: AwareDatetime | None = Field(
        default=None, description="Answers close then; at or before starts_at"
    )

    @field_validator("starts_at", "ends_at", "rsvp_deadline")
    @classmethod
    def _in_utc(cls, value: datetime | None, info: object) -> datetime | None:
        return in_utc(value, getattr(info, "field_name", "time"))

    @model_validator(mode="after")
    def _times_in_order(self) -> EventIn:
        check_times(self.starts_at, self.ends_at, self.rsvp_deadline)
        return self


def check_times(starts_at: datetime, ends_at: datetime, deadline: datetime | None) -> None:
    """ValueError naming what is out of order."""
    if ends_at <= starts_at:
        raise ValueError("ends_at must be after starts_at")
    if deadline is not None and deadline > starts_at:
        raise ValueError("rsvp_deadline must be at or before starts_at")


class EventPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = Field(default=None, description="A new title")
    description: Description | None = Field(default=None, description="A new description")
    place: Place | None = Field(
        default=None, description="A new place: those who said yes or maybe are told"
    )
    starts_at: AwareDatetime | None = Field(
        default=None, description="A new start: those who said yes or maybe are told"
    )
    ends_at: AwareDatetime | None = Field(default=None, description="A new end")
    capacity: Capacity | None = Field(
        default=None, description="A new capacity, not below the people confirmed"
    )
    rsvp_deadline: AwareDatetime | None = Field(
        default=None, description="A new RSVP deadline, at or before the start"
    )

    @field_validator("starts_at", "ends_at", "rsvp_deadline")
    @classmethod
    def _in_utc(cls, value: datetime | None, info: object) -> datetime | None:
        return in_utc(value, getattr(info, "field_name", "time"))


class EventOut(BaseModel):
    id: str
    school_id: str
    author_id: str
    title: str
    description: str
    place: str
    starts_at: datetime
    ends_at: datetime
    class_ids: list[str]
    roles: list[str]
    capacity: int | None
    rsvp_deadline: datetime | None
    status: EventStatus
    confirmed_people: int
    places_left: int | None
    sequence: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(
            id=str(event.id),
            school_id=str(event.school_id),
            author_id=str(event.author_id),
            title=event.title,
            description=event.description,
            place=event.place,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            class_ids=[str(c) for c in event.class_ids],
            roles=[r.value for r in event.roles],
            capacity=event.capacity,
            rsvp_deadline=event.rsvp_deadline,
            status=event.status,
            confirmed_people=event.confirmed_people,
            places_left=(
                max(event.capacity - event.confirmed_people, 0)
                if event.capacity is not None
                else None
            ),
            sequence=event.sequence,
            created_at=event.created_at,
            updated_at=event.updated_at,
        )


class RsvpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: Answer = Field(description="yes, no or maybe")
    guests: int = Field(default=0, ge=0, le=MAX_GUESTS, description="People besides you, 0..10")
    comment: Comment = Field(default="", description="A note for the organiser")
    student_ids: list[ObjectIdField] = Field(
        default_factory=list, max_length=20, description="Parents: which of your children come"
    )


class RsvpOut(BaseModel):
    event_id: str
    user_id: str
    answer: Answer = Field(description="yes, no or maybe")
    status: RsvpStatus
    guests: int
    comment: str
    student_ids: list[str]
    updated_at: datetime

    @classmethod
    def of(cls, rsvp: Rsvp) -> RsvpOut:
        return cls(
            event_id=str(rsvp.event_id),
            user_id=str(rsvp.user_id),
            answer=rsvp.answer,
            status=rsvp.status,
            guests=rsvp.guests,
            comment=rsvp.comment,
            student_ids=[str(s) for s in rsvp.student_ids],
            updated_at=rsvp.updated_at,
        )


class RsvpItem(BaseModel):
    user_id: str
    full_name: str
    answer: Answer = Field(description="yes, no or maybe")
    status: RsvpStatus
    guests: int
    comment: str
    student_ids: list[str]
    updated_at: datetime


class RsvpTotals(BaseModel):
    yes: int = 0
    no: int = 0
    maybe: int = 0
    waitlisted: int = 0
    # People confirmed, guests included.
    people: int = 0


class RsvpPage(BaseModel):
    items: list[RsvpItem]
    next_cursor: str | None = None
    totals: RsvpTotals


class CalendarOut(BaseModel):
    url: str
