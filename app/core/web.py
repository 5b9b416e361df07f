"""The layout every page shares, and rendering a domain's page in the reader's language.

Pages are for people arriving from an email: no script, no asset from another host, readable
on a phone. Each domain keeps its page templates in its own folder and extends
"layout.html" from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from app.core import i18n

LAYOUT_TEMPLATES = Path(__file__).parent / "templates"

# Nothing but this origin's forms and the page's own inline styles; tokens travel in page
# URLs, so no Referer may carry them to anyone.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


class Pages:
    """Renders the page templates in `folder` on the shared layout."""

    def __init__(self, folder: Path) -> None:
        self._environment = Environment(
            loader=ChoiceLoader([FileSystemLoader(folder), FileSystemLoader(LAYOUT_TEMPLATES)]),
            autoescape=select_autoescape(enabled_extensions=("html",)),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(
        self, name: str, *, locale: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        locale = i18n.supported(locale)

        def t(key: str, **params: Any) -> str:
            return i18n.translate(locale, key, **params)

        html = self._environment.get_template(name).render(
            lang=locale, t=t, errors=context.pop("errors", {}), **context
        )
        return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def page_locale(request: Request, user_locale: str | None = None) -> str:
    """The token's user's language, else ?lang=, else Accept-Language, else English."""
    return i18n.choose_locale(
        user_locale=user_locale,
        lang=request.query_params.get("lang"),
        accept_language=request.headers.get("accept-language"),
    )


def public_url(base_url: str, path: str, **query: str) -> str:
    """An absolute link for an email: PUBLIC_BASE_URL (or where `dev` listens) + path."""
    link = base_url.rstrip("/") + path
    return f"{link}?{urlencode(query)}" if query else link
