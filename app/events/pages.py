"""The page a one-click answer from an event email opens: GET shows the event and a button
(mail scanners open links, so nothing changes), its POST records the answer. Section 7's
token rules: signed for one person and one purpose, 60 days, void once the account's
address changed after it was mailed; the page speaks the person's language."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse

from app.auth import service as accounts
from app.auth.models import User
from app.core.config import Settings, get_settings
from app.core.errors import Conflict
from app.core.i18n import format_datetime
from app.core.page_tokens import InvalidPageToken
from app.core.security import as_utc, utcnow
from app.core.web import Pages, page_locale
from app.events import repository, rsvp
from app.events.access import may_answer
from app.events.links import AnswerLink, read_answer_token
from app.events.models import Answer, Event, EventStatus, RsvpStatus
from app.events.schemas import RsvpIn

router = APIRouter(include_in_schema=False)
pages = Pages(Path(__file__).parent / "pages")
AppSettings = Annotated[Settings, Depends(get_settings)]


@dataclass(frozen=True)
class Visit:
    link: AnswerLink | None = None
    user: User | None = None
    event: Event | None = None
    problem: HTMLResponse | None = None


def _problem(request: Request, problem: str, locale: str | None = None) -> HTMLResponse:
    status_code = 404 if problem == "gone" else 409 if problem != "invalid" else 400
    return pages.render(
        "answer_problem.html",
        locale=page_locale(request, locale),
        status_code=status_code,
        problem=problem,
    )


def _closed_because(event: Event) -> str | None:
    now = utcnow()
    if event.status == EventStatus.cancelled:
        return "cancelled"
    if as_utc(event.starts_at) <= now:
        return "started"
    if event.rsvp_deadline is not None and as_utc(event.rsvp_deadline) <= now:
        return "deadline"
    return None


async def _visit(request: Request, settings: Settings, token: str) -> Visit:
    try:
        link = read_answer_token(settings=settings, token=token)
    except InvalidPageToken:
        return Visit(problem=_problem(request, "invalid"))
    user = await accounts.get_live_user(link.user_id)
    event = await repository.get(link.event_id)
    if user is None or event is None:
        return Visit(problem=_problem(request, "gone"))
    locale = user.locale.value
    if link.token.expired or link.token.signed_before(user.links_valid_after):
        return Visit(problem=_problem(request, "expired", locale))
    closed = _closed_because(event)
    if closed is not None:
        return Visit(problem=_problem(request, closed, locale))
    return Visit(link=link, user=user, event=event)


def _when(event: Event, user: User) -> str:
    return format_datetime(as_utc(event.starts_at), user.locale.value, user.timezone)


@router.get("/events/answer", response_class=HTMLResponse)
async def answer_page(
    request: Request, settings: AppSettings, token: Annotated[str, Query()] = ""
) -> HTMLResponse:
    """The event and a button confirming the answer the email's button named."""
    visit = await _visit(request, settings, token)
    if visit.problem is not None:
        return visit.problem
    assert visit.link is not None and visit.user is not None and visit.event is not None
    return pages.render(
        "answer.html",
        locale=page_locale(request, visit.user.locale.value),
        token=token,
        title=visit.event.title,
        place=visit.event.place,
        when=_when(visit.event, visit.user),
        answer=visit.link.answer.value,
    )


@router.post("/events/answer", response_class=HTMLResponse)
async def answer(
    request: Request, settings: AppSettings, token: Annotated[str, Form()] = ""
) -> HTMLResponse:
    """Record the answer; a yes keeps the guests and comment an earlier answer gave."""
    visit = await _visit(request, settings, token)
    if visit.problem is not None:
        return visit.problem
    link, user, event = visit.link, visit.user, visit.event
    assert link is not None and user is not None and event is not None
    locale = user.locale.value
    answering = await may_answer(user, event)
    if answering is None:
        return _problem(request, "not_invited", locale)
    previous = await rsvp.own_answer(event, user)
    body = RsvpIn.model_validate(
        {
            "answer": link.answer,
            "guests": previous.guests if previous is not None and link.answer == Answer.yes else 0,
            "comment": previous.comment if previous is not None else "",
        }
    )
    try:
        saved = await rsvp.answer(answering, body)
    except Conflict:
        return _problem(request, "conflict", locale)
    outcome = (
        "no"
        if saved.answer != Answer.yes
        else "waitlisted"
        if saved.status == RsvpStatus.waitlisted
        else "confirmed_yes"
    )
    return pages.render(
        "answered.html",
        locale=page_locale(request, locale),
        title=event.title,
        when=_when(event, user),
        outcome=outcome,
    )
