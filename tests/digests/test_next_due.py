"""When a digest is next due: the next start of the digest hour whose hour has not ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from app.notifications.digest_schedule import next_due, period_label
from app.notifications.preferences import EmailFrequency
from tests.digests.helpers import local

BERLIN, NEW_YORK, TOKYO = "Europe/Berlin", "America/New_York", "Asia/Tokyo"


@dataclass(frozen=True)
class Case:
    name: str
    zone: str
    now: datetime
    hour: int
    weekday: int | None
    due: datetime


# 2025-06-10 is a Tuesday (ISO weekday 2).
CASES = [
    Case("current hour at 18:30 is today", BERLIN, local(BERLIN, 2025, 6, 10, 18, 30), 18, None,
         local(BERLIN, 2025, 6, 10, 18)),
    Case("at the very start of the hour", BERLIN, local(BERLIN, 2025, 6, 10, 18), 18, None,
         local(BERLIN, 2025, 6, 10, 18)),
    Case("last second of the hour", BERLIN, local(BERLIN, 2025, 6, 10, 18, 59), 18, None,
         local(BERLIN, 2025, 6, 10, 18)),
    Case("hour ended a moment ago", BERLIN, local(BERLIN, 2025, 6, 10, 19), 18, None,
         local(BERLIN, 2025, 6, 11, 18)),
    Case("an earlier hour is tomorrow", BERLIN, local(BERLIN, 2025, 6, 10, 18, 30), 9, None,
         local(BERLIN, 2025, 6, 11, 9)),
    Case("a later hour is today", BERLIN, local(BERLIN, 2025, 6, 10, 18, 30), 19, None,
         local(BERLIN, 2025, 6, 10, 19)),
    Case("midnight after a late evening", TOKYO, local(TOKYO, 2025, 6, 10, 23, 30), 0, None,
         local(TOKYO, 2025, 6, 11, 0)),
    Case("the local date, not the UTC one", TOKYO, local(TOKYO, 2025, 6, 11, 1), 18, None,
         local(TOKYO, 2025, 6, 11, 18)),
    Case("weekly, today, hour not over", BERLIN, local(BERLIN, 2025, 6, 10, 18, 30), 18, 2,
         local(BERLIN, 2025, 6, 10, 18)),
    Case("weekly, today, hour passed", BERLIN, local(BERLIN, 2025, 6, 10, 19, 30), 18, 2,
         local(BERLIN, 2025, 6, 17, 18)),
    Case("weekly, later this week", BERLIN, local(BERLIN, 2025, 6, 10, 19, 30), 18, 5,
         local(BERLIN, 2025, 6, 13, 18)),
    Case("weekly, earlier weekday is next week", BERLIN, local(BERLIN, 2025, 6, 10, 8), 18, 1,
         local(BERLIN, 2025, 6, 16, 18)),
    Case("weekly, Sunday is ISO 7", BERLIN, local(BERLIN, 2025, 6, 10, 8), 9, 7,
         local(BERLIN, 2025, 6, 15, 9)),
    # Berlin moves from UTC+1 to UTC+2 in the night of 2025-03-30.
    Case("Berlin, spring forward", BERLIN, local(BERLIN, 2025, 3, 29, 18, 30), 9, None,
         datetime(2025, 3, 30, 7, tzinfo=ZoneInfo("UTC"))),
    # New York moves from UTC-4 to UTC-5 in the night of 2025-11-02.
    Case("New York, fall back", NEW_YORK, local(NEW_YORK, 2025, 11, 1, 20), 18, None,
         datetime(2025, 11, 2, 23, tzinfo=ZoneInfo("UTC"))),
    Case("New York, weekly across the change", NEW_YORK, local(NEW_YORK, 2025, 10, 31, 19), 18,
         5, datetime(2025, 11, 7, 23, tzinfo=ZoneInfo("UTC"))),
    # 02:00 does not exist that night: the digest goes at the first moment after the gap.
    Case("New York, hour skipped by the change", NEW_YORK, local(NEW_YORK, 2025, 3, 8, 12), 2,
         None, datetime(2025, 3, 9, 7, tzinfo=ZoneInfo("UTC"))),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_next_due(case: Case) -> None:
    due = next_due(now=case.now, zone=ZoneInfo(case.zone), hour=case.hour, weekday=case.weekday)
    assert due == case.due
    assert due.utcoffset() is not None and due.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    local_due = due.astimezone(ZoneInfo(case.zone))
    if case.name != "New York, hour skipped by the change":
        assert (local_due.hour, local_due.minute) == (case.hour, 0)
    if case.weekday is not None:
        assert local_due.isoweekday() == case.weekday


def test_period_labels_use_the_local_date_and_the_iso_week() -> None:
    zone = ZoneInfo("Asia/Vladivostok")
    # 20:00 UTC on Sunday 2025-06-15 is already Monday 06:00 in Vladivostok, ISO week 25.
    moment = datetime(2025, 6, 15, 20, tzinfo=ZoneInfo("UTC"))
    assert period_label(EmailFrequency.daily, moment, zone) == "2025-06-16"
    assert period_label(EmailFrequency.weekly, moment, zone) == "2025-W25"
    # ISO weeks cross the new year: 2024-12-30 belongs to 2025-W01.
    assert period_label(EmailFrequency.weekly, local("UTC", 2024, 12, 30, 18), zone) == "2025-W01"
