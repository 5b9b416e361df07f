"""Who may create events for which audience, who manages an event, who sees it and who may
answer it. The routes take these as dependencies; the services receive what they let
through."""

from __future__ import annotations

from typing import Annotated

from beanie import PydanticObjectId
from fastapi import Depends

from app.auth.access import CurrentUser
from app.auth.models import Role, User
from app.core.db import parse_object_id
from app.core.errors import Forbidden, NotFound
from app.events import repository, service
from app.events.audience import children_in_audience, is_in_audience
from app.events.models import Event
from app.events.rsvp import Answering
from app.events.schemas import EventIn
from app.schools.access import (
    class_audience,
    is_school_admin,
    load_school,
    schools_of,
    teaches_a_class_of,
)
from app.schools.models import School


def check_audience(author: User, school: School, body: EventIn) -> service.Audience:
    """The school and classes `body` addresses, if `author` may invite them."""
    class_ids = class_audience(
        author,
        school,
        body.class_ids,
        not_staff="Only the school's admins and teachers may create events",
        no_classes="Teachers invite their own classes: give class_ids",
    )
    return service.Audience(school=school, class_ids=class_ids)


async def new_event_audience(user: CurrentUser, body: EventIn) -> service.Audience:
    school = await load_school(str(body.school_id))
    return check_audience(user, school, body)


async def _event(event_id: str) -> Event:
    event = await repository.get(parse_object_id(event_id, what="Event"))
    if event is None:
        raise NotFound("Event not found")
    return event


async def _manages(user: User, event: Event) -> bool:
    """The school's admin, or its author while still teaching one of its classes (rights
    follow current relations)."""
    if is_school_admin(user, event.school_id):
        return True
    assert user.id is not None
    return (
        event.author_id == user.id
        and user.role == Role.teacher
        and await teaches_a_class_of(user.id, event.school_id, event.class_ids)
    )


async def managed_event(event_id: str, user: CurrentUser) -> Event:
    event = await _event(event_id)
    if not await _manages(user, event):
        raise Forbidden(
            "Only the school's admins and the author, while teaching its classes, may do this"
        )
    return event


async def visible_event(event_id: str, user: CurrentUser) -> Event:
    """The event, for those who manage it or whom it addresses; 404 for anyone else, who
    has no business knowing it exists."""
    event = await _event(event_id)
    if await _manages(user, event):
        return event
    school = await load_school(event.school_id)
    if not await is_in_audience(user, event, school):
        raise NotFound("Event not found")
    return event


async def may_answer(user: User, event: Event) -> Answering | None:
    """The answering person, if the event addresses them now."""
    school = await load_school(event.school_id)
    if not await is_in_audience(user, event, school):
        return None
    children: set[PydanticObjectId] = set()
    if user.role == Role.parent:
        children = await children_in_audience(user, event, school)
    return Answering(user=user, event=event, children=frozenset(children))


async def answering(event_id: str, user: CurrentUser) -> Answering:
    event = await _event(event_id)
    found = await may_answer(user, event)
    if found is None:
        if await _manages(user, event) or event.school_id in await schools_of(user):
            raise Forbidden("This event does not invite you: only its audience may answer")
        raise NotFound("Event not found")
    return found


NewEventAudience = Annotated[service.Audience, Depends(new_event_audience)]
ManagedEvent = Annotated[Event, Depends(managed_event)]
VisibleEvent = Annotated[Event, Depends(visible_event)]
EventAnswering = Annotated[Answering, Depends(answering)]
