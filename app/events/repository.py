"""The events collections' queries; the services keep the rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from app.core import db
from app.core.pagination import newest_first_page
from app.core.security import utcnow
from app.events.models import (
    Answer,
    CalendarFeed,
    Event,
    EventStatus,
    Reminder,
    Rsvp,
    RsvpStatus,
)

# --- events ------------------------------------------------------------------------------


async def insert(event: Event) -> None:
    await event.insert()


async def get(event_id: PydanticObjectId) -> Event | None:
    return await Event.get(event_id)


async def by_start(
    query: dict[str, Any], *, limit: int, cursor: str | None
) -> tuple[list[Event], str | None]:
    """A page of events matching `query`, the latest start first."""
    return await newest_first_page(Event, query, limit=limit, cursor=cursor, field="starts_at")


async def change(event_id: PydanticObjectId | None, update: dict[str, Any]) -> Event | None:
    """Apply `update` to a scheduled event in one atomic write; None when it is cancelled."""
    raw = await db.claim_one(Event, {"_id": event_id, "status": EventStatus.scheduled}, update)
    return Event.model_validate(raw) if raw is not None else None


async def take_places(event: Event, people: int) -> bool:
    """Hold `people` places of the event if they are still free, in one conditional update:
    of two callers racing for the last places exactly one gets them. The capacity the caller
    read is part of the condition, so a capacity changed meanwhile refuses rather than
    overfills."""
    condition: dict[str, Any] = {"_id": event.id, "status": EventStatus.scheduled}
    if event.capacity is not None:
        condition["capacity"] = event.capacity
        condition["confirmed_people"] = {"$lte": event.capacity - people}
    taken = await db.claim_one(Event, condition, {"$inc": {"confirmed_people": people}})
    return taken is not None


async def release_places(event_id: PydanticObjectId | None, people: int) -> None:
    if people:
        await db.update_one(Event, {"_id": event_id}, {"$inc": {"confirmed_people": -people}})


async def claim_due_reminder(*, now: datetime, lease_until: datetime) -> Event | None:
    """One event with a reminder due, its `next_reminder_at` moved to `lease_until` in the
    same atomic write, so two beat runs never take the same one and an event whose run died
    comes due again when the lease ends. An indexed range read: only due events are seen."""
    raw = await db.claim_one(
        Event,
        {"next_reminder_at": {"$lte": now}},
        {"$set": {"next_reminder_at": lease_until}},
        sort=[("next_reminder_at", 1)],
    )
    return Event.model_validate(raw) if raw is not None else None


async def reminded(
    event_id: PydanticObjectId | None, *, sent: list[Reminder], next_at: datetime | None
) -> None:
    await db.update_one(
        Event,
        {"_id": event_id},
        {"$set": {"reminders_sent": [r.value for r in sent], "next_reminder_at": next_at}},
    )


async def starting_from(query: dict[str, Any], *, since: datetime, limit: int) -> list[Event]:
    """Up to `limit` events matching `query` that start from `since`, soonest first."""
    rows = await db.find_rows(
        Event,
        {"$and": [query, {"starts_at": {"$gte": since}}]},
        sort=[("starts_at", 1), ("_id", 1)],
        limit=limit,
    )
    return [Event.model_validate(row) for row in rows]


# --- answers -----------------------------------------------------------------------------


async def rsvp_of(event_id: PydanticObjectId | None, user_id: PydanticObjectId) -> Rsvp | None:
    return await Rsvp.find_one({"event_id": event_id, "user_id": user_id})


async def save_rsvp(rsvp: Rsvp, *, previous_revision: int | None) -> bool:
    """Write an answer if nobody wrote this person's answer since it was read (a first one:
    if there is none yet); False when another write came first."""
    if previous_revision is None:
        try:
            await rsvp.insert()
        except DuplicateKeyError:
            return False
        return True
    fields = rsvp.model_dump(exclude={"id", "revision", "created_at"})
    written = await db.update_one(
        Rsvp,
        {"_id": rsvp.id, "revision": previous_revision},
        {"$set": {**fields, "revision": previous_revision + 1}},
    )
    return written.matched == 1


async def first_waiting(event_id: PydanticObjectId | None) -> Rsvp | None:
    """The longest-waiting answer on the event's waitlist."""
    row = await db.find_row(
        Rsvp,
        {"event_id": event_id, "status": RsvpStatus.waitlisted},
        sort=[("waitlisted_at", 1), ("_id", 1)],
    )
    return Rsvp.model_validate(row) if row is not None else None


async def confirm_waiting(rsvp: Rsvp, *, now: datetime) -> bool:
    """Move a waitlisted answer to confirmed unless it changed since it was read."""
    written = await db.update_one(
        Rsvp,
        {"_id": rsvp.id, "revision": rsvp.revision, "status": RsvpStatus.waitlisted},
        {
            "$set": {
                "status": RsvpStatus.confirmed,
                "people": 1 + rsvp.guests,
                "updated_at": now,
            },
            "$inc": {"revision": 1},
        },
    )
    return written.matched == 1


async def answers_page(
    event_id: PydanticObjectId | None, *, limit: int, cursor: str | None
) -> tuple[list[Rsvp], str | None]:
    return await newest_first_page(
        Rsvp, {"event_id": event_id}, limit=limit, cursor=cursor, field="updated_at"
    )


async def all_answers(event_id: PydanticObjectId | None) -> list[Rsvp]:
    """Every answer to the event, newest first (an export: one query, however many)."""
    rows = await db.find_rows(Rsvp, {"event_id": event_id}, sort=[("updated_at", -1), ("_id", -1)])
    return [Rsvp.model_validate(row) for row in rows]


async def totals(event_id: PydanticObjectId | None) -> list[dict[str, Any]]:
    """Answers counted by (answer, status), with the people they hold: one aggregation."""
    return await db.aggregate(
        Rsvp,
        [
            {"$match": {"event_id": event_id}},
            {
                "$group": {
                    "_id": {"answer": "$answer", "status": "$status"},
                    "count": {"$sum": 1},
                    "people": {"$sum": "$people"},
                }
            },
        ],
    )


async def answerers(
    event_id: PydanticObjectId | None, answers: list[Answer], *, confirmed_only: bool = False
) -> list[PydanticObjectId]:
    """Who gave one of `answers` (only those whose answer stands, `confirmed_only`)."""
    query: dict[str, Any] = {"event_id": event_id, "answer": {"$in": [a.value for a in answers]}}
    if confirmed_only:
        query["status"] = RsvpStatus.confirmed
    rows = await db.find_rows(Rsvp, query, {"user_id": 1})
    return [PydanticObjectId(row["user_id"]) for row in rows]


async def has_answers(event_id: PydanticObjectId | None) -> bool:
    return await db.find_row(Rsvp, {"event_id": event_id}, {"_id": 1}) is not None


# --- calendar feeds ------------------------------------------------------------------------


async def feed_of(user_id: PydanticObjectId) -> CalendarFeed | None:
    return await CalendarFeed.get(user_id)


async def new_feed(user_id: PydanticObjectId) -> CalendarFeed:
    """A new version of the person's feed (1 for their first): an atomic upsert, then read."""
    await db.update_one(
        CalendarFeed,
        {"_id": user_id},
        {"$inc": {"version": 1}, "$set": {"issued_at": utcnow()}},
        upsert=True,
    )
    feed = await feed_of(user_id)
    assert feed is not None
    return feed
