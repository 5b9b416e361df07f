"""Email templates: Jinja2, one folder per locale, each email a subject, a text and an HTML part."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
LOCALES = ("en", "ru")
DEFAULT_LOCALE = "en"

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(name: str, locale: str, **context: Any) -> Rendered:
    """Render email `name` in the recipient's locale (English when it has none)."""
    folder = locale if locale in LOCALES else DEFAULT_LOCALE
    subject = _environment.get_template(f"{folder}/{name}.subject.txt").render(**context)
    return Rendered(
        subject=" ".join(subject.split()),
        text=_environment.get_template(f"{folder}/{name}.txt").render(**context),
        html=_environment.get_template(f"{folder}/{name}.html").render(**context),
    )
