"""Answers to events: one per event and person, atomic against the capacity, a waitlist
promoted in order when places free up, and the list with its totals.

The event's `confirmed_people` counter is the only gate to a place: it is raised by a
conditional atomic update that holds only while the places are there, so two families racing
for the last place cannot both get it. The answer itself is written after, guarded by its
revision; a write that loses a race gives back the places it took.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from beanie import PydanticObjectId

from app.auth import directory
from app.auth.models import Role, User
from app.core import jobs
from app.core.errors import Conflict, Unprocessable
from app.core.security import as_utc, utcnow
from app.events import repository
from app.events.models import Answer, Event, EventStatus, Rsvp, RsvpStatus
from app.events.notices import NOTIFY_JOB
from app.events.schemas import RsvpIn, RsvpItem, RsvpTotals
from app.events.topic import NoticeKind


@dataclass(frozen=True)
class Answering:
    """An answer access.py let through: the person, the event, and (for a parent) the
    children of theirs the event addresses."""

    user: User
    event: Event
    children: frozenset[PydanticObjectId]


def check_open(event: Event, now: datetime) -> None:
    """Conflict naming why the event takes no answers now."""
    if event.status == EventStatus.cancelled:
        raise Conflict("This event is cancelled")
    if as_utc(event.starts_at) <= now:
        raise Conflict("This event has already begun")
    if event.rsvp_deadline is not None and as_utc(event.rsvp_deadline) <= now:
        raise Conflict(f"Answers closed at the RSVP deadline, {as_utc(event.rsvp_deadline)}")


def _children(answering: Answering, body: RsvpIn, previous: Rsvp | None) -> list[PydanticObjectId]:
    wanted = list(dict.fromkeys(body.student_ids))
    if answering.user.role != Role.parent:
        if wanted:
            raise Unprocessable("student_ids: only a parent names the children who come")
        return []
    foreign = [str(s) for s in wanted if s not in answering.children]
    if foreign:
        raise Unprocessable(
            f"student_ids: not your children invited to this event: {', '.join(foreign)}"
        )
    if not wanted:
        # Unnamed: as before, else the whole family the event invites.
        return previous.student_ids if previous is not None else sorted(answering.children)
    return wanted


async def answer(answering: Answering, body: RsvpIn) -> Rsvp:
    """Record a person's answer: a `yes` takes places if they are free, else joins the
    waitlist; a `no` or `maybe` gives back what the person held."""
    event, user = answering.event, answering.user
    assert user.id is not None and event.id is not None
    now = utcnow()
    check_open(event, now)
    previous = await repository.rsvp_of(event.id, user.id)
    children = _children(answering, body, previous)
    held = (
        previous.people if previous is not None and previous.status == RsvpStatus.confirmed else 0
    )
    wanted = 1 + body.guests if body.answer == Answer.yes else 0
    status, people, waitlisted_at = RsvpStatus.confirmed, wanted, None
    taken = released = 0
    if body.answer == Answer.yes and held:
        if wanted > held:
            if not await repository.take_places(event, wanted - held):
                raise Conflict(
                    "Not enough places left for more guests; your answer stays as it was"
                )
            taken = wanted - held
        else:
            released = held - wanted
    elif body.answer == Answer.yes:
        if previous is not None and previous.status == RsvpStatus.waitlisted:
            # Still waiting: keeps the place in the queue it had.
            status, people, waitlisted_at = RsvpStatus.waitlisted, 0, previous.waitlisted_at
        elif await repository.first_waiting(event.id) is None and await repository.take_places(
            event, wanted
        ):
            taken = wanted
        else:
            status, people, waitlisted_at = RsvpStatus.waitlisted, 0, now
    else:
        released = held
    rsvp = Rsvp(
        id=previous.id if previous is not None else None,
        event_id=event.id,
        user_id=user.id,
        answer=body.answer,
        status=status,
        guests=body.guests,
        comment=body.comment,
        student_ids=children,
        people=people,
        waitlisted_at=waitlisted_at,
        revision=previous.revision + 1 if previous is not None else 0,
        created_at=previous.created_at if previous is not None else now,
        updated_at=now,
    )
    saved = await repository.save_rsvp(
        rsvp, previous_revision=previous.revision if previous is not None else None
    )
    if not saved:
        await repository.release_places(event.id, taken)
        raise Conflict("Your answer was changed at the same moment; send it again")
    await repository.release_places(event.id, released)
    if released or (status == RsvpStatus.waitlisted and event.capacity is not None):
        # A place that was freed, or one freed while this answer was joining the queue.
        await promote_waiting(event)
    return rsvp


async def promote_waiting(event: Event) -> list[Rsvp]:
    """Let the waitlist in, in order, while the first in it fits; each promoted person is
    told. Stops at the first who does not fit: nobody overtakes them."""
    promoted: list[Rsvp] = []
    while True:
        current = await repository.get(event.id) if event.id is not None else None
        if current is None or current.status != EventStatus.scheduled:
            return promoted
        first = await repository.first_waiting(current.id)
        if first is None or not await repository.take_places(current, 1 + first.guests):
            return promoted
        if not await repository.confirm_waiting(first, now=utcnow()):
            # They changed their answer meanwhile: give the places back and look again.
            await repository.release_places(current.id, 1 + first.guests)
            continue
        promoted.append(first)
        await jobs.enqueue(
            NOTIFY_JOB,
            event_id=str(current.id),
            kind=NoticeKind.promoted.value,
            user_id=str(first.user_id),
            version=first.revision + 1,
        )


async def totals(event: Event) -> RsvpTotals:
    """The answers counted, in one aggregation however many there are."""
    figures = RsvpTotals()
    for row in await repository.totals(event.id):
        answer_given, status = row["_id"]["answer"], row["_id"]["status"]
        if status == RsvpStatus.waitlisted:
            figures.waitlisted += row["count"]
            continue
        setattr(figures, answer_given, getattr(figures, answer_given) + row["count"])
        figures.people += row["people"]
    return figures


async def named(rows: list[Rsvp]) -> list[RsvpItem]:
    """The answers with their people's names, read in one query."""
    names = await directory.full_names([r.user_id for r in rows])
    return [
        RsvpItem(
            user_id=str(r.user_id),
            full_name=names.get(r.user_id, ""),
            answer=r.answer,
            status=r.status,
            guests=r.guests,
            comment=r.comment,
            student_ids=[str(s) for s in r.student_ids],
            updated_at=r.updated_at,
        )
        for r in rows
    ]


async def own_answer(event: Event, user: User) -> Rsvp | None:
    assert user.id is not None
    return await repository.rsvp_of(event.id, user.id)
