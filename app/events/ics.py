"""Events in iCalendar (RFC 5545, via the icalendar library). An event keeps one UID for
life; every change a calendar shows raises its SEQUENCE; a cancelled one stays, as
STATUS:CANCELLED, so calendar apps take it off their day rather than keep a stale copy."""

from __future__ import annotations

from collections.abc import Sequence

from icalendar import Calendar
from icalendar import Event as CalendarEntry

from app.core.security import as_utc
from app.events.models import Event, EventStatus

PRODUCT = "-//Schoolbell//Events//EN"
UID_DOMAIN = "events.schoolbell"


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


def method_of(event: Event) -> str:
    return "CANCEL" if event.status == EventStatus.cancelled else "PUBLISH"


def invitation(event: Event) -> bytes:
    """The .ics an event email carries: the event as it stands (cancelled ones CANCEL)."""
    return calendar_of([event], method=method_of(event))
