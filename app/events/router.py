"""Events, answers to them, their exports, and each person's calendar feed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import AwareDatetime

from app.auth.access import CurrentUser
from app.core.config import Settings, get_settings
from app.core.db import parse_object_id
from app.core.pagination import Page, PageParams, page_params
from app.core.spreadsheets import MEDIA_TYPES
from app.events import calendar, exports, repository, rsvp, service
from app.events.access import EventAnswering, ManagedEvent, NewEventAudience, VisibleEvent
from app.events.schemas import (
    CalendarOut,
    EventIn,
    EventOut,
    EventPatch,
    RsvpIn,
    RsvpOut,
    RsvpPage,
)

router = APIRouter(tags=["events"])
Paging = Annotated[PageParams, Depends(page_params)]
AppSettings = Annotated[Settings, Depends(get_settings)]
ICS_MEDIA_TYPE = "text/calendar; charset=utf-8"
_FILE = {"schema": {"type": "string", "format": "binary"}}


def _a_file(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"description": description, "content": {media_type: _FILE}}}


@router.post("/events", operation_id="createEvent", status_code=status.HTTP_201_CREATED)
async def create_event(user: CurrentUser, audience: NewEventAudience, body: EventIn) -> EventOut:
    """Create an event for a school, some classes and/or some roles; its audience is invited."""
    return EventOut.of(await service.create_event(author=user, audience=audience, body=body))


@router.get("/events", operation_id="listEvents")
async def list_events(
    user: CurrentUser,
    paging: Paging,
    school_id: Annotated[
        str | None, Query(max_length=64, description="Only this school's events")
    ] = None,
    start: Annotated[
        AwareDatetime | None, Query(alias="from", description="Starting at or after this")
    ] = None,
    end: Annotated[
        AwareDatetime | None, Query(alias="to", description="Starting at or before this")
    ] = None,
) -> Page[EventOut]:
    """Events you manage or that are addressed to you, the latest start first."""
    rows, cursor = await service.list_events(
        user=user,
        school_id=parse_object_id(school_id, what="School") if school_id else None,
        start=start,
        end=end,
        limit=paging.limit,
        cursor=paging.cursor,
    )
    return Page(items=[EventOut.of(e) for e in rows], next_cursor=cursor)


@router.get("/events/{event_id}", operation_id="getEvent")
async def get_event(event: VisibleEvent) -> EventOut:
    """One event (its managers and its audience)."""
    return EventOut.of(event)


@router.patch("/events/{event_id}", operation_id="updateEvent")
async def update_event(event: ManagedEvent, body: EventPatch) -> EventOut:
    """Change an event; a new time or place tells those who said yes or maybe."""
    return EventOut.of(await service.update_event(event=event, patch=body))


@router.delete("/events/{event_id}", operation_id="cancelEvent")
async def cancel_event(event: ManagedEvent) -> EventOut:
    """Cancel an event (it stays, as cancelled, and those who said yes or maybe are told)."""
    return EventOut.of(await service.cancel_event(event=event))


@router.put("/events/{event_id}/rsvp", operation_id="answerEvent")
async def answer_event(answering: EventAnswering, body: RsvpIn) -> RsvpOut:
    """Answer an event you are invited to: `confirmed`, or `waitlisted` when a yes does not
    fit; changeable until the RSVP deadline."""
    return RsvpOut.of(await rsvp.answer(answering, body))


@router.get("/events/{event_id}/rsvps", operation_id="listEventAnswers")
async def list_answers(event: ManagedEvent, paging: Paging) -> RsvpPage:
    """The answers, newest first, with totals (the author and the school's admins)."""
    rows, cursor = await repository.answers_page(event.id, limit=paging.limit, cursor=paging.cursor)
    return RsvpPage(
        items=await rsvp.named(rows), next_cursor=cursor, totals=await rsvp.totals(event)
    )


@router.get(
    "/events/{event_id}/rsvps.csv",
    operation_id="exportEventAnswersCsv",
    response_class=Response,
    responses=_a_file(MEDIA_TYPES["csv"], "The answers as CSV"),
)
async def answers_csv(event: ManagedEvent, user: CurrentUser) -> Response:
    """The answers as CSV (UTF-8 with a BOM), in your language and time zone."""
    return await exports.answers_file(event=event, reader=user, kind="csv")


@router.get(
    "/events/{event_id}/rsvps.xlsx",
    operation_id="exportEventAnswersXlsx",
    response_class=Response,
    responses=_a_file(MEDIA_TYPES["xlsx"], "The answers as an Excel workbook"),
)
async def answers_xlsx(event: ManagedEvent, user: CurrentUser) -> Response:
    """The answers as an Excel workbook, in your language and time zone."""
    return await exports.answers_file(event=event, reader=user, kind="xlsx")


@router.get("/users/me/calendar", operation_id="getMyCalendar", tags=["calendar"])
async def my_calendar(user: CurrentUser, settings: AppSettings) -> CalendarOut:
    """Your calendar feed's link (iCalendar), for a calendar app to subscribe to."""
    return CalendarOut(url=await calendar.feed_url(settings=settings, user=user))


@router.post("/users/me/calendar", operation_id="renewMyCalendar", tags=["calendar"])
async def new_calendar(user: CurrentUser, settings: AppSettings) -> CalendarOut:
    """A new calendar feed link; the old one stops working."""
    return CalendarOut(url=await calendar.new_feed_url(settings=settings, user=user))


@router.get(
    "/calendar/{token}.ics",
    operation_id="getCalendarFeed",
    tags=["calendar"],
    response_class=Response,
    responses=_a_file(ICS_MEDIA_TYPE, "The feed as iCalendar"),
)
async def calendar_feed(token: str, settings: AppSettings) -> Response:
    """The events of a feed link's owner, as iCalendar (no login: the link is the key)."""
    body = await calendar.feed_for(settings=settings, token=token)
    return Response(body, media_type=ICS_MEDIA_TYPE, headers={"Cache-Control": "no-store"})
