"""ISO weeks ("2026-W49") and the dates they hold."""

from __future__ import annotations

import datetime as dt
import re

from app.core.errors import Unprocessable
from app.core.timezones import zone_or_utc

_WEEK = re.compile(r"(\d{4})-W(\d{2})")
WEEK_FORM = "an ISO week as YYYY-Www, e.g. 2026-W49"


def monday_of(week: str) -> dt.date:
    """The Monday of an ISO week, or a 422 that says the form expected."""
    found = _WEEK.fullmatch(week.strip())
    if found is None:
        raise Unprocessable(f"week {week!r} is not {WEEK_FORM}")
    year, number = int(found[1]), int(found[2])
    try:
        monday = dt.date.fromisocalendar(year, number, 1)
    except ValueError:
        raise Unprocessable(f"week {week!r} does not exist: {year} has no week {number}") from None
    if monday > dt.date.max - dt.timedelta(days=6):
        raise Unprocessable(f"week {week!r} ends after the last day there is")
    return monday


def label(monday: dt.date) -> str:
    year, number, _ = monday.isocalendar()
    return f"{year}-W{number:02d}"


def today_in(timezone: str) -> dt.date:
    return dt.datetime.now(zone_or_utc(timezone)).date()


def this_monday(timezone: str) -> dt.date:
    today = today_in(timezone)
    return today - dt.timedelta(days=today.isoweekday() - 1)


def days_of(monday: dt.date) -> list[dt.date]:
    return [monday + dt.timedelta(days=n) for n in range(7)]


def as_stored(day: dt.date) -> dt.datetime:
    """A date as the changes store it: midnight UTC, so it sorts and filters as a date."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
