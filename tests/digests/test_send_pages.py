"""A period with more than a page of notices comes as several emails, each once; the scan
finds everyone due across pages and clears a deleted user's schedule."""

from __future__ import annotations

import pytest

from app.auth.models import User
from app.notifications import digests as digests
from app.notifications.preferences import EmailFrequency
from tests.conftest import SmtpServer
from tests.digests.helpers import (
    DAILY_GRADES,
    VLADIVOSTOK,
    Family,
    announce,
    choose,
    daily_due,
    pending_titles,
    received,
    reload,
    stored,
    text_of,
    vl,
)


async def daily_notices_for_olga(family: Family, count: int) -> User:
    """Olga on a daily announcements digest, with `count` notices waiting for the 10th's."""
    olga = await choose(
        family.olga,
        now=vl(10, 9),
        timezone=VLADIVOSTOK,
        email={"grades": "off", "announcements": "daily"},
    )
    for n in range(count):
        await announce(family, [olga], at=vl(10, 10, n), title=f"Notice {n}", body="Body")
    return olga


async def test_a_period_with_more_than_a_page_comes_as_several_emails_once_each(
    family: Family, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(digests, "DIGEST_PAGE", 3)
    olga = await daily_notices_for_olga(family, 7)

    assert await digests.scan(now=vl(10, 18, 5)) == 1
    mail = received(smtp_server, olga)
    # Oldest first, three to an email, nothing left out and nothing twice.
    assert [m["Subject"] for m in mail] == [
        "Ежедневная сводка Schoolbell: 3 события",
        "Ежедневная сводка Schoolbell: 3 события",
        "Ежедневная сводка Schoolbell: 1 событие",
    ]
    shown = [f"Notice {n}" for m in mail for n in range(7) if f"Notice {n}:" in text_of(m)]
    assert shown == [f"Notice {n}" for n in range(7)]
    assert await pending_titles(olga) == []
    assert daily_due(await stored(olga)) == vl(11, 18)
    # The same job again (a retry) sends nothing more.
    assert await digests.send_digests(user_id=str(olga.id), now=vl(10, 18, 6)) == 0
    assert len(received(smtp_server, olga)) == 3


async def test_a_late_duplicate_job_does_not_start_another_page_that_evening(
    family: Family, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(digests, "DIGEST_PAGE", 3)
    olga = await daily_notices_for_olga(family, 3)  # exactly one full page
    # Job B reads the settings, then job A runs to the end before B goes on.
    read_by_late_job = await stored(olga)
    user = await reload(olga)
    assert await digests.send_digests(user_id=str(olga.id), now=vl(10, 18, 5)) == 1
    await announce(family, [olga], at=vl(10, 18, 6), title="Late", body="Body")

    late = await digests._send_period(
        user, read_by_late_job, EmailFrequency.daily, vl(10, 18), vl(10, 18, 7)
    )

    assert late == 0
    assert len(received(smtp_server, olga)) == 1
    assert await pending_titles(olga) == ["Late"]  # in tomorrow's digest


async def test_a_deleted_users_schedule_is_cleared_by_the_scan(
    family: Family, smtp_server: SmtpServer
) -> None:
    olga = await choose(family.olga, now=vl(10, 9), timezone=VLADIVOSTOK, **DAILY_GRADES)
    await User.get_motor_collection().update_one(
        {"_id": olga.id}, {"$set": {"deleted_at": vl(10, 12)}}
    )
    assert await digests.scan(now=vl(10, 18, 5)) == 0
    after = await stored(olga)
    assert after.next_digest_at is None and after.digest_due.daily is None


async def test_the_scan_finds_everyone_due_across_pages(
    family: Family, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(digests, "SCAN_PAGE", 2)
    people = [family.olga, family.emma, family.anna, family.boris, family.world.teacher]
    for person in people:
        await choose(person, now=vl(10, 9), timezone=VLADIVOSTOK, **DAILY_GRADES)
    sent: list[str] = []

    async def record(name: str, **kwargs: str) -> None:
        sent.append(kwargs["user_id"])

    monkeypatch.setattr(digests.jobs, "enqueue", record)
    assert await digests.scan(now=vl(10, 18, 5)) == len(people)
    assert sorted(sent) == sorted(str(p.id) for p in people)
