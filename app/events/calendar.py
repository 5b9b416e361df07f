"""iCalendar (RFC 5545, via the icalendar library): each person's feed of the events they
may see, and the invitation attached to event emails. An event keeps one UID for life; every
change a calendar shows raises its SEQUENCE; a cancelled one stays, as STATUS:CANCELLED, so
calendar apps take it off their day rather than keep a stale copy."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from icalendar import Calendar
from icalendar import Event as CalendarEntry

from app.auth import service as accounts
from app.auth.models import User
from app.core.config import Settings
from app.core.errors import NotFound
from app.core.page_tokens import InvalidPageToken
from app.core.security import as_utc, utcnow
from app.events import links, repository
from app.events.models import Event, EventStatus
from app.events.service import visible_query

PRODUCT = "-//Schoolbell//Events//EN"
UID_DOMAIN = "events.schoolbell"
# A feed shows what is coming and the recent past, not every event since the school began.
FEED_PAST = timedelta(days=90)
FEED_LIMIT = 500


def entry(event: Event) -> CalendarEntry:
    item = CalendarEntry()
    item.add("uid", f"{event.id}@{UID_DOMAIN}")
    item.add("dtstamp", as_utc(event.updated_at))
    item.add("last-modified", as_utc(event.updated_at))
    item.add("dtstart", as_utc(event.starts_at))
    item.add("dtend", as_utc(event.ends_at))
    item.add("summary", event.title)
    if event.place:
        item.add("location", event.place)
    if event.description:
        item.add("description", event.description)
    item.add("sequence", event.sequence)
    cancelled = event.status == EventStatus.cancelled
    item.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return item


def calendar_of(events: Sequence[Event], *, method: str | None = None) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODUCT)
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "Schoolbell")
    if method is not None:
        calendar.add("method", method)
    for event in events:
        calendar.add_component(entry(event))
    return bytes(calendar.to_ical())


def invitation(event: Event) -> bytes:
    """The .ics an event email carries: the event as it stands (cancelled ones CANCEL)."""
    method = "CANCEL" if event.status == EventStatus.cancelled else "PUBLISH"
    return calendar_of([event], method=method)


async def feed_url(*, settings: Settings, user: User) -> str:
    """The person's feed link (made on first asking)."""
    assert user.id is not None
    version = await repository.feed_version(user.id) or await repository.new_feed_version(user.id)
    return links.calendar_url(settings=settings, user_id=user.id, version=version)


async def new_feed_url(*, settings: Settings, user: User) -> str:
    """A new feed link; every older one stops working."""
    assert user.id is not None
    version = await repository.new_feed_version(user.id)
    return links.calendar_url(settings=settings, user_id=user.id, version=version)


async def feed_for(*, settings: Settings, token: str) -> bytes:
    """The calendar a feed link shows; NotFound for a forged, revoked or orphaned link (a
    calendar app shows nothing rather than someone else's)."""
    try:
        user_id, version = links.read_calendar_token(settings=settings, token=token)
    except InvalidPageToken:
        raise NotFound("Calendar not found") from None
    if await repository.feed_version(user_id) != version:
        raise NotFound("Calendar not found")
    user = await accounts.get_live_user(user_id)
    if user is None:
        raise NotFound("Calendar not found")
    query = await visible_query(user)
    events = (
        await repository.starting_from(query, since=utcnow() - FEED_PAST, limit=FEED_LIMIT)
        if query is not None
        else []
    )
    return calendar_of(events)
