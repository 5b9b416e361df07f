"""IANA time zones: validating names people send, and reading names already stored."""

from __future__ import annotations

from datetime import UTC as dt_utc
from datetime import date, datetime
from functools import cache
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, Field, StringConstraints

UTC = ZoneInfo("UTC")
# The zone whose clock is furthest ahead (Kiribati, UTC+14).
LATEST_ZONE = ZoneInfo("Pacific/Kiritimati")


@cache
def known_timezones() -> frozenset[str]:
    # "localtime" is the host's own zone file, not an IANA name.
    return frozenset(available_timezones() - {"localtime"})


def _check_timezone(value: str) -> str:
    # ZoneInfo() itself raises a mix of errors for odd input (paths, directories); a set
    # lookup answers every string the same way.
    if value not in known_timezones():
        raise ValueError(f"Unknown time zone {value!r}; use an IANA name such as 'Europe/Moscow'")
    return value


TimeZoneName = Annotated[
    str,
    StringConstraints(max_length=64),
    AfterValidator(_check_timezone),
    # A client builds a body from this; "string" is no zone.
    Field(examples=["Europe/Moscow"]),
]


def zone_or_utc(name: str) -> ZoneInfo:
    """The zone of a stored name; UTC for one that no longer resolves (an older tz database)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def today_in(name: str) -> date:
    """Today's date in the zone of a stored name (a school's: its days are its own)."""
    return datetime.now(zone_or_utc(name)).date()


def latest_today() -> date:
    """The latest date it is anywhere (UTC+14): no school's today lies after it, so a range
    ending here holds every school's today whatever its zone."""
    return datetime.now(dt_utc).astimezone(LATEST_ZONE).date()


def stored_day(day: date) -> datetime:
    """A calendar day as the school-day records store it: midnight UTC, so it sorts and
    filters as a date."""
    return datetime(day.year, day.month, day.day, tzinfo=dt_utc)


def in_utc(value: datetime | None, name: str) -> datetime | None:
    """`value` moved to UTC; a ValueError naming the field when it has no UTC equivalent
    (9999-12-31T23:00-05:00 parses, then overflows: a 422, not a 500 later)."""
    if value is None:
        return None
    try:
        return value.astimezone(dt_utc)
    except OverflowError as exc:
        raise ValueError(f"{name} is out of range") from exc
