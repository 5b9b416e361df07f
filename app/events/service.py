"""Events: creating, changing, cancelling and listing them; answers are in rsvp.py and
what people are told in notices.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId

from app.auth.models import Role, User
from app.core import jobs
from app.core.errors import Conflict, Unprocessable
from app.core.security import as_utc, to_millisecond, utcnow
from app.events import repository
from app.events.audience import addressed_to
from app.events.models import Event, EventStatus
from app.events.notices import NOTIFY_JOB, reminder_plan
from app.events.schemas import EventIn, EventPatch, check_times
from app.events.topic import NoticeKind
from app.schools.models import School


@dataclass(frozen=True)
class Audience:
    """Whom a new event may address, as access.py checked it."""

    school: School
    class_ids: list[PydanticObjectId]


def _not_in_the_past(starts_at: datetime, now: datetime) -> None:
    if as_utc(starts_at) <= now:
        raise Unprocessable("starts_at is in the past: an event must start in the future")


async def create_event(*, author: User, audience: Audience, body: EventIn) -> Event:
    """Create an event and invite its audience (a job tells them)."""
    now = utcnow()
    _not_in_the_past(body.starts_at, now)
    assert audience.school.id is not None and author.id is not None
    starts_at = to_millisecond(body.starts_at)
    sent, next_at = reminder_plan(starts_at, sent=[], now=now)
    event = Event(
        school_id=audience.school.id,
        author_id=author.id,
        title=body.title,
        description=body.description,
        place=body.place,
        starts_at=starts_at,
        ends_at=to_millisecond(body.ends_at),
        class_ids=audience.class_ids,
        roles=[Role(r) for r in dict.fromkeys(body.roles)],
        capacity=body.capacity,
        rsvp_deadline=to_millisecond(body.rsvp_deadline) if body.rsvp_deadline else None,
        reminders_sent=sent,
        next_reminder_at=next_at,
        created_at=now,
        updated_at=now,
    )
    await repository.insert(event)
    await jobs.enqueue(NOTIFY_JOB, event_id=str(event.id), kind=NoticeKind.published.value)
    return event


async def update_event(*, event: Event, patch: EventPatch) -> Event:
    """Change an event; a new time or place raises its SEQUENCE and tells those who said yes
    or maybe; a larger capacity lets the waitlist in."""
    if event.status == EventStatus.cancelled:
        raise Conflict("This event is cancelled and can no longer be changed")
    now = utcnow()
    changes: dict[str, Any] = {
        k: v for k, v in patch.model_dump(exclude_unset=True).items() if v is not None
    }
    for name in ("starts_at", "ends_at", "rsvp_deadline"):
        if name in changes:
            changes[name] = to_millisecond(changes[name])
    starts_at = changes.get("starts_at", event.starts_at)
    try:
        check_times(
            as_utc(starts_at),
            as_utc(changes.get("ends_at", event.ends_at)),
            as_utc(changes["rsvp_deadline"])
            if "rsvp_deadline" in changes
            else (as_utc(event.rsvp_deadline) if event.rsvp_deadline else None),
        )
    except ValueError as exc:
        raise Unprocessable(str(exc)) from exc
    if "starts_at" in changes:
        _not_in_the_past(starts_at, now)
    capacity = changes.get("capacity")
    if capacity is not None and capacity < event.confirmed_people:
        raise Unprocessable(
            f"capacity {capacity} is below the {event.confirmed_people} people already confirmed"
        )
    moved = any(
        name in changes and changes[name] != getattr(event, name)
        for name in ("starts_at", "ends_at", "place")
    )
    update: dict[str, Any] = {"$set": {**changes, "updated_at": now}}
    if moved:
        update["$inc"] = {"sequence": 1}
    if "starts_at" in changes and as_utc(starts_at) != as_utc(event.starts_at):
        # Reminders follow the new start (their keys carry it, so they go out again).
        sent, next_at = reminder_plan(starts_at, sent=[], now=now)
        update["$set"].update(reminders_sent=[r.value for r in sent], next_reminder_at=next_at)
    updated = await repository.change(event.id, update)
    if updated is None:
        raise Conflict("This event is cancelled and can no longer be changed")
    if moved:
        await jobs.enqueue(
            NOTIFY_JOB,
            event_id=str(updated.id),
            kind=NoticeKind.changed.value,
            version=updated.sequence,
        )
    if capacity is not None:
        from app.events.rsvp import promote_waiting  # noqa: PLC0415 (rsvp imports this module)

        await promote_waiting(updated)
        assert updated.id is not None
        updated = await repository.get(updated.id) or updated
    return updated


async def cancel_event(*, event: Event) -> Event:
    """Cancel an event: its calendar entry shows it cancelled, and those who said yes or
    maybe are told (priority high)."""
    now = utcnow()
    cancelled = await repository.change(
        event.id,
        {
            "$set": {
                "status": EventStatus.cancelled,
                "cancelled_at": now,
                "updated_at": now,
                "next_reminder_at": None,
            },
            "$inc": {"sequence": 1},
        },
    )
    if cancelled is None:
        raise Conflict("This event is already cancelled")
    await jobs.enqueue(NOTIFY_JOB, event_id=str(event.id), kind=NoticeKind.cancelled.value)
    return cancelled


def _in_utc(moment: datetime, name: str) -> datetime:
    try:
        return as_utc(moment)
    except OverflowError as exc:  # 0001-01-01T00:00+01:00 has no UTC equivalent
        raise Unprocessable(f"`{name}` is out of range") from exc


def parse_range(start: datetime | None, end: datetime | None) -> dict[str, Any]:
    bounds: dict[str, Any] = {}
    if start is not None:
        bounds["$gte"] = _in_utc(start, "from")
    if end is not None:
        bounds["$lte"] = _in_utc(end, "to")
    if start is not None and end is not None and bounds["$lte"] < bounds["$gte"]:
        raise Unprocessable("`to` must not be before `from`")
    return {"starts_at": bounds} if bounds else {}


async def visible_query(user: User) -> dict[str, Any] | None:
    """The condition selecting the events this person may see: an admin's schools', the
    ones addressed to a member, and a teacher's own; None when there can be none."""
    assert user.id is not None
    if user.role == Role.admin:
        return {"school_id": {"$in": sorted(user.school_ids)}} if user.school_ids else None
    addressed = await addressed_to(user)
    reach: list[dict[str, Any]] = [addressed] if addressed is not None else []
    if user.role == Role.teacher:
        reach.append({"author_id": user.id})
    if not reach:
        return None
    return {"$or": reach} if len(reach) > 1 else reach[0]


async def list_events(
    *,
    user: User,
    school_id: PydanticObjectId | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Event], str | None]:
    """Admins see their schools' events; everyone else those addressed to them (teachers
    also those they wrote), the latest start first."""
    visible = await visible_query(user)
    if visible is None:
        return [], None
    parts: list[dict[str, Any]] = [visible]
    when = parse_range(start, end)
    if when:
        parts.append(when)
    if school_id is not None:
        parts.append({"school_id": school_id})
    query: dict[str, Any] = {"$and": parts} if len(parts) > 1 else parts[0]
    return await repository.by_start(query, limit=limit, cursor=cursor)
