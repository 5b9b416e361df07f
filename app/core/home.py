"""The site root: what Schoolbell is and where each kind of person goes from here."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.core.web import LAYOUT_TEMPLATES, Pages, page_locale

router = APIRouter(include_in_schema=False)
pages = Pages(LAYOUT_TEMPLATES)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> HTMLResponse:
    """Parents join with a code, staff set a password from their invitation, developers
    read /docs."""
    return pages.render("home.html", locale=page_locale(request))
