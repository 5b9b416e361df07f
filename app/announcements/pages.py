"""The page an "I have read this" button opens: GET shows the announcement and a confirm
button, its POST records the acknowledgement (mail scanners open links; only a person
pressing the button answers). Token rules of product.md section 7."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse

from app.announcements import acknowledgements, repository
from app.announcements.links import ACK_PATH, read_ack_token
from app.announcements.models import Acknowledgement, Announcement, AnnouncementStatus
from app.auth import service as auth_service
from app.auth.models import User
from app.core.config import Settings, get_settings
from app.core.i18n import format_datetime
from app.core.page_tokens import MAX_TOKEN_LENGTH, InvalidPageToken
from app.core.web import Pages, page_locale

router = APIRouter(include_in_schema=False)
pages = Pages(Path(__file__).parent / "page_templates")

PageToken = Annotated[str, Query(max_length=MAX_TOKEN_LENGTH, description="From the email")]
FormToken = Annotated[str, Form(max_length=MAX_TOKEN_LENGTH)]
AppSettings = Annotated[Settings, Depends(get_settings)]


@dataclass(frozen=True)
class Visit:
    """The reader and announcement a valid link names, or the page saying why not."""

    user: User | None = None
    announcement: Announcement | None = None
    asked: Acknowledgement | None = None
    problem: HTMLResponse | None = None


def _problem(
    request: Request, problem: str, *, status_code: int, user: User | None = None
) -> HTMLResponse:
    return pages.render(
        "ack_problem.html",
        locale=page_locale(request, user.locale.value if user else None),
        status_code=status_code,
        problem=problem,
    )


async def _visit(request: Request, settings: Settings, token: str) -> Visit:
    try:
        link = read_ack_token(settings=settings, token=token)
    except InvalidPageToken:
        return Visit(problem=_problem(request, "invalid", status_code=400))
    user = await auth_service.get_live_user(link.user_id)
    if user is None:
        return Visit(problem=_problem(request, "gone", status_code=404))
    # A link mailed to an address the account has since left proves nothing any more.
    if link.expired or link.outlived(user.links_valid_after):
        return Visit(problem=_problem(request, "expired", status_code=400, user=user))
    announcement = await repository.get(link.announcement_id)
    if (
        announcement is None
        or not announcement.requires_ack
        or announcement.status != AnnouncementStatus.published
    ):
        return Visit(problem=_problem(request, "unavailable", status_code=404, user=user))
    asked = await acknowledgements.acknowledgement_of(announcement=announcement, user=user)
    if asked is None:
        return Visit(problem=_problem(request, "not_asked", status_code=403, user=user))
    return Visit(user=user, announcement=announcement, asked=asked)


def _ack_page(request: Request, visit: Visit, *, token: str, at: datetime | None) -> HTMLResponse:
    user, announcement = visit.user, visit.announcement
    assert user is not None and announcement is not None
    locale = page_locale(request, user.locale.value)
    when = format_datetime(at, locale, user.timezone) if at is not None else None
    return pages.render(
        "acknowledge.html",
        locale=locale,
        token=token,
        action=ACK_PATH,
        title=announcement.title,
        body=announcement.body,
        acknowledged_at=when,
    )


@router.get(ACK_PATH, response_class=HTMLResponse)
async def acknowledge_page(
    request: Request, settings: AppSettings, token: PageToken = ""
) -> HTMLResponse:
    """The announcement and a button confirming it was read; changes nothing by itself."""
    visit = await _visit(request, settings, token)
    if visit.problem is not None:
        return visit.problem
    assert visit.asked is not None
    return _ack_page(request, visit, token=token, at=visit.asked.acknowledged_at)


@router.post(ACK_PATH, response_class=HTMLResponse)
async def acknowledge(
    request: Request, settings: AppSettings, token: FormToken = ""
) -> HTMLResponse:
    """Record that the link's reader has read the announcement (again: nothing changes)."""
    visit = await _visit(request, settings, token)
    if visit.problem is not None:
        return visit.problem
    assert visit.user is not None and visit.announcement is not None
    row = await acknowledgements.acknowledge(announcement=visit.announcement, user=visit.user)
    return _ack_page(request, visit, token=token, at=row.acknowledged_at)
