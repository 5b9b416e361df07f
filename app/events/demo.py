"""The demo school's upcoming parents' meeting for 5A, with a few answers already in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from beanie import PydanticObjectId

from app.auth.models import Role
from app.core.security import to_millisecond
from app.events.models import Answer, Event, Rsvp, RsvpStatus
from app.events.notices import reminder_plan

DEMO_MEETING_TITLE = "Parents' meeting 5A"
DEMO_MEETING_CAPACITY = 20


@dataclass(frozen=True)
class DemoAnswer:
    user_id: PydanticObjectId
    answer: Answer
    guests: int = 0
    student_ids: Sequence[PydanticObjectId] = ()
    comment: str = ""


async def add_demo_meeting(
    *,
    school_id: PydanticObjectId,
    class_id: PydanticObjectId,
    author_id: PydanticObjectId,
    answers: Sequence[DemoAnswer],
    now: datetime,
) -> Event:
    """A meeting a week from now at 18:00 UTC+3, with these answers (all within capacity)."""
    day = (now + timedelta(days=7)).date()
    starts_at = to_millisecond(datetime(day.year, day.month, day.day, 15, 0, tzinfo=now.tzinfo))
    sent, next_at = reminder_plan(starts_at, sent=[], now=now)
    rsvps = [
        Rsvp(
            event_id=PydanticObjectId(),  # set below, once the event has its id
            user_id=a.user_id,
            answer=a.answer,
            status=RsvpStatus.confirmed,
            guests=a.guests,
            comment=a.comment,
            student_ids=list(a.student_ids),
            people=1 + a.guests if a.answer == Answer.yes else 0,
            created_at=now,
            updated_at=now,
        )
        for a in answers
    ]
    event = Event(
        school_id=school_id,
        author_id=author_id,
        title=DEMO_MEETING_TITLE,
        description="Results of the first term and the winter trip.",
        place="Room 12",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=1, minutes=30),
        class_ids=[class_id],
        roles=[Role.parent],
        capacity=DEMO_MEETING_CAPACITY,
        confirmed_people=sum(r.people for r in rsvps),
        reminders_sent=sent,
        next_reminder_at=next_at,
        created_at=now,
        updated_at=now,
    )
    await event.insert()
    assert event.id is not None
    for rsvp in rsvps:
        rsvp.event_id = event.id
    if rsvps:
        await Rsvp.insert_many(rsvps)
    return event


async def remove_demo_meetings(school_ids: Sequence[PydanticObjectId]) -> None:
    """What a demo load cut short left of its meeting."""
    events = await Event.find({"school_id": {"$in": list(school_ids)}}).to_list()
    await Rsvp.find({"event_id": {"$in": [e.id for e in events]}}).delete()
    await Event.find({"school_id": {"$in": list(school_ids)}}).delete()
