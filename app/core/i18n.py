"""Languages: one message catalogue per locale, Babel for plurals, dates and Accept-Language.

Catalogues are JSON files in `locales/`, one per language, flat keys ("pages.saved"). A value
is a `str.format` pattern, or for counted things an object of CLDR plural forms ("one",
"few", "many", "other") chosen by Babel for the locale.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale as BabelLocale
from babel import UnknownLocaleError
from babel import dates as babel_dates

from app.core.timezones import zone_or_utc

LOCALES = ("en", "ru")
DEFAULT_LOCALE = "en"
CATALOGUES = Path(__file__).parent / "locales"
# Day, month name, year and time: "1 December 2026, 18:00", «1 декабря 2026, 18:00».
DATETIME_PATTERN = "d MMMM y, HH:mm"
DATE_PATTERN = "d MMMM y"


# Folders of further catalogues (a producer's own strings), merged into the shared one.
_added: list[Path] = []


def _load(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


@cache
def catalogue(locale: str) -> dict[str, Any]:
    merged = _load(CATALOGUES / f"{locale}.json")
    for folder in _added:
        own = _load(folder / f"{locale}.json")
        # A key defined twice would make one of the two strings silently unreachable.
        clash = sorted(merged.keys() & own.keys())
        if clash:
            raise ValueError(f"{folder}: keys already in the catalogue: {', '.join(clash)}")
        merged.update(own)
    return merged


def add_catalogue(folder: Path) -> None:
    """Merge the catalogues in `folder` (en.json, ru.json, ...) into the shared ones."""
    if folder in _added:
        return
    _added.append(folder)
    catalogue.cache_clear()
    try:
        for locale in LOCALES:
            catalogue(locale)
    except (ValueError, OSError):
        remove_catalogue(folder)
        raise


def remove_catalogue(folder: Path) -> None:
    if folder in _added:
        _added.remove(folder)
    catalogue.cache_clear()


def supported(locale: str | None) -> str:
    """`locale` when it is one we speak, else the default."""
    return locale if locale in LOCALES else DEFAULT_LOCALE


def translate(locale: str, key: str, /, **params: Any) -> str:
    """The message `key` in `locale`, with `params` filled in; a missing key is a KeyError."""
    message = catalogue(supported(locale))[key]
    if not isinstance(message, str):
        raise TypeError(f"{key} is a counted message: use plural()")
    return message.format(**params) if params else message


def plural(locale: str, key: str, count: int, /, **params: Any) -> str:
    """A counted message with the plural form `count` takes in `locale` (1 оценка, 5 оценок)."""
    locale = supported(locale)
    forms = catalogue(locale)[key]
    form = BabelLocale.parse(locale).plural_form(count)
    return str(forms.get(form, forms["other"])).format(count=count, **params)


def format_datetime(moment: datetime, locale: str, timezone: str) -> str:
    """A moment as the reader says it, in their own time zone."""
    return babel_dates.format_datetime(
        moment, DATETIME_PATTERN, tzinfo=zone_or_utc(timezone), locale=supported(locale)
    )


def format_date(day: date, locale: str) -> str:
    return babel_dates.format_date(day, DATE_PATTERN, locale=supported(locale))


def weekday_name(iso_weekday: int, locale: str) -> str:
    """Monday for 1 ... Sunday for 7, capitalised for a list of choices."""
    names = BabelLocale.parse(supported(locale)).days["stand-alone"]["wide"]
    return str(names[iso_weekday - 1]).capitalize()


def from_accept_language(header: str | None) -> str | None:
    """The first language we speak among those the browser prefers, by their q weights."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        try:
            language = BabelLocale.parse(tag.strip().replace("-", "_")).language
        except (ValueError, UnknownLocaleError):
            continue
        ranked.append((-weight, position, language))
    for weight, _position, language in sorted(ranked):
        if weight < 0 and language in LOCALES:
            return language
    return None


def choose_locale(*, user_locale: str | None, lang: str | None, accept_language: str | None) -> str:
    """The page language: the token's user's, else ?lang=, else the browser's, else English."""
    for candidate in (user_locale, lang, from_accept_language(accept_language)):
        if candidate in LOCALES:
            return candidate
    return DEFAULT_LOCALE
