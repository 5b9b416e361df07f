"""One-click unsubscribe (RFC 8058): POST turns the email off, GET only explains."""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.core.config import get_settings
from app.core.errors import BadRequest
from app.delivery.unsubscribe import read_token
from app.notifications import service as notifications

router = APIRouter(tags=["unsubscribe"])

ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"
Token = Annotated[str, Query(min_length=1, max_length=2048, description="From the email's link")]


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title></head>"
        "<body style='font-family: Arial, sans-serif; max-width: 560px; margin: 2em auto'>"
        f"<h1>{escape(title)}</h1>{body}</body></html>"
    )


def _topics_text(topics: list[str]) -> str:
    return " and ".join(escape(t) for t in topics)


@router.get("/unsubscribe", response_class=HTMLResponse)
async def unsubscribe_page(token: Token) -> HTMLResponse:
    """Say what the link does, with a button that does it; changes nothing by itself."""
    _user_id, topics = read_token(settings=get_settings(), token=token)
    names = _topics_text([t.value for t in topics])
    return _page(
        "Stop these emails?",
        f"<p>This stops emails about <strong>{names}</strong> from Schoolbell. "
        "You will still see them in the app, and you can turn the emails on again in "
        "your notification preferences.</p>"
        f"<form method='post' action='?token={escape(token)}'>"
        f"<input type='hidden' name='{ONE_CLICK_FIELD}' value='{ONE_CLICK_VALUE}'>"
        "<button type='submit'>Unsubscribe</button></form>",
    )


@router.post("/unsubscribe", response_class=HTMLResponse)
async def unsubscribe(request: Request, token: Token) -> HTMLResponse:
    """RFC 8058 one-click: with the body `List-Unsubscribe=One-Click`, turn that email off."""
    user_id, topics = read_token(settings=get_settings(), token=token)
    form = await request.form()
    if form.get(ONE_CLICK_FIELD) != ONE_CLICK_VALUE:
        raise BadRequest(f"Expected the form body {ONE_CLICK_FIELD}={ONE_CLICK_VALUE}")
    await notifications.turn_email_off(user_id=user_id, topics=topics)
    names = _topics_text([t.value for t in topics])
    return _page(
        "You are unsubscribed",
        f"<p>Schoolbell will no longer email you about <strong>{names}</strong>. "
        "You can turn these emails on again in your notification preferences.</p>",
    )
