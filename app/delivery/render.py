"""Email templates: Jinja2, each email a subject, a text and an HTML part.

Each email's words live in a folder per locale; they share one HTML layout (base.html:
600 px, the school's name at the top, readable in dark mode) and one plain-text footer,
whose words come from the message catalogue. The HTML leaves with its CSS inlined, as
mail clients drop <style>; only the dark-mode rules stay in one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import css_inline
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PrefixLoader,
    StrictUndefined,
    select_autoescape,
)
from markupsafe import escape

from app.core import i18n

TEMPLATES = Path(__file__).parent / "templates"
LOCALES = i18n.LOCALES
DEFAULT_LOCALE = i18n.DEFAULT_LOCALE
# What the shared layout and footer show when an email has nothing to say there.
LAYOUT_DEFAULTS: dict[str, Any] = {
    "school_name": None,
    "reason": None,
    "preferences_url": None,
    "unsubscribe_url": None,
}

# Other packages' email folders, each under its own name ("<name>/en/<email>.html"); their
# templates extend this folder's layout and footer.
_namespaces: dict[str, FileSystemLoader] = {}

_environment = Environment(
    loader=ChoiceLoader([FileSystemLoader(TEMPLATES), PrefixLoader(_namespaces)]),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_inliner = css_inline.CSSInliner(keep_at_rules=True)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _helpers(locale: str) -> dict[str, Any]:
    def t(key: str, **params: Any) -> str:
        return i18n.translate(locale, key, **params)

    def plural(key: str, count: int, **params: Any) -> str:
        return i18n.plural(locale, key, count, **params)

    def day(value: str | date) -> str:
        return i18n.format_date(
            date.fromisoformat(value) if isinstance(value, str) else value, locale
        )

    return {"lang": locale, "t": t, "plural": plural, "day": day}


def add_templates(namespace: str, folder: Path) -> None:
    """Make the emails in `folder` (en/, ru/) renderable as "<namespace>/<email>"."""
    current = _namespaces.get(namespace)
    if current is not None and list(current.searchpath) != [str(folder)]:
        raise ValueError(f"email templates {namespace!r} come from another folder already")
    _namespaces[namespace] = FileSystemLoader(folder)
    _forget_loaded()


def _forget_loaded() -> None:
    if _environment.cache is not None:
        _environment.cache.clear()


def remove_templates(namespace: str) -> None:
    _namespaces.pop(namespace, None)
    _forget_loaded()


def template_path(name: str, locale: str, part: str) -> str:
    """Where one part (html, txt, subject.txt) of email `name` is for a locale's folder:
    "digest" is this package's own, "<namespace>/<email>" one added by add_templates."""
    namespace, _, email = name.rpartition("/")
    path = f"{locale}/{email}.{part}"
    return f"{namespace}/{path}" if namespace else path


def render(name: str, locale: str, **context: Any) -> Rendered:
    """Render email `name` in the recipient's locale (English when it has none)."""
    folder = i18n.supported(locale)
    values = {**LAYOUT_DEFAULTS, **context, **_helpers(folder)}
    subject = _environment.get_template(template_path(name, folder, "subject.txt"))
    html = _environment.get_template(template_path(name, folder, "html")).render(**values)
    return Rendered(
        subject=" ".join(subject.render(**values).split()),
        text=_environment.get_template(template_path(name, folder, "txt")).render(**values),
        html=_inliner.inline(html),
    )


@dataclass(frozen=True)
class Draft:
    """An email rendered once for many readers, with a marked hole for each value that
    differs per reader (their links, why they got it). Filling the holes gives what
    rendering for that reader would, at the cost of a few string replacements."""

    rendered: Rendered
    holes: tuple[str, ...]
    # Random per draft, so no text a person typed into the email can contain a marker.
    salt: str

    def fill(self, **values: str) -> Rendered:
        subject, text, html = self.rendered.subject, self.rendered.text, self.rendered.html
        for name in self.holes:
            marker, value = _marker(name, self.salt), values[name]
            subject = subject.replace(marker, value)
            text = text.replace(marker, value)
            html = html.replace(marker, str(escape(value)))
        return Rendered(subject=subject, text=text, html=html)


def _marker(hole: str, salt: str) -> str:
    # Letters and digits only: autoescaping, CSS inlining and URLs leave it as it is.
    return f"hole{salt}{hole.replace('_', '')}"


def draft(name: str, locale: str, holes: tuple[str, ...], **context: Any) -> Draft:
    """Render email `name` once, leaving `holes` for `Draft.fill`. A hole's value must not
    steer the template (every reader has one, so `{% if %}` on it is true for all)."""
    salt = secrets.token_hex(8)
    markers = {hole: _marker(hole, salt) for hole in holes}
    return Draft(render(name, locale, **context, **markers), holes, salt)


def when(moment: datetime, locale: str, timezone: str) -> str:
    """A moment as the recipient reads it: «1 декабря 2026, 18:00» in their own zone."""
    return i18n.format_datetime(moment, locale, timezone)
