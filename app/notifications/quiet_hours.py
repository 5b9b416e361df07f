"""Quiet hours: a window in the user's own time zone, possibly wrapping past midnight."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.core.security import as_utc
from app.core.timezones import zone_or_utc
from app.notifications.preferences import QuietHours


def quiet_hours_end(*, start: str, end: str, timezone: str, now: datetime) -> datetime | None:
    """When the user's quiet window ends, if `now` is inside it; windows may wrap midnight."""
    zone = zone_or_utc(timezone)
    local = as_utc(now).astimezone(zone)
    minute_of_day = local.hour * 60 + local.minute
    start_minute, end_minute = QuietHours.minutes(start), QuietHours.minutes(end)
    if start_minute < end_minute:
        inside = start_minute <= minute_of_day < end_minute
    else:
        inside = minute_of_day >= start_minute or minute_of_day < end_minute
    if not inside:
        return None
    end_day = local.date()
    if minute_of_day >= end_minute:
        end_day = end_day + timedelta(days=1)
    local_end = datetime(
        end_day.year, end_day.month, end_day.day, end_minute // 60, end_minute % 60, tzinfo=zone
    )
    return local_end.astimezone(as_utc(now).tzinfo)
