"""Digests sent through a real SMTP server never twice: scanning again, duplicate and racing
jobs, crashes, and workers that come back late."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from app.core.security import as_utc
from app.delivery import service as delivery
from app.delivery.models import Email
from app.notifications import digests as digests
from app.notifications.models import Notification, NotificationSettings
from tests.conftest import SmtpServer
from tests.digests.helpers import (
    DAILY_GRADES,
    MINUTE,
    VLADIVOSTOK,
    Family,
    choose,
    daily_due,
    digest_keys,
    pending_titles,
    post_grade,
    received,
    stored,
    text_of,
    vl,
)


async def test_scanning_again_in_the_same_hour_sends_nothing_more(
    client: httpx.AsyncClient, family: Family, teacher: dict[str, str], smtp_server: SmtpServer
) -> None:
    olga = await choose(family.olga, now=vl(10, 9), timezone=VLADIVOSTOK, **DAILY_GRADES)
    await post_grade(client, teacher, family, family.anna, at=vl(10, 10))
    assert await digests.scan(now=vl(10, 18)) == 1
    assert await digests.scan(now=vl(10, 18, 1)) == 0
    # A grade after this evening's digest waits for tomorrow's.
    await post_grade(client, teacher, family, family.boris, at=vl(10, 18, 10))
    assert await digests.scan(now=vl(10, 18, 59)) == 0
    assert await digests.scan(now=vl(11, 17, 59)) == 0
    assert len(received(smtp_server, olga)) == 1
    assert await digests.scan(now=vl(11, 18)) == 1
    mail = received(smtp_server, olga)
    assert len(mail) == 2
    assert "Boris Petrov" in text_of(mail[1]) and "Anna" not in text_of(mail[1])


async def test_sending_twice_for_the_same_period_sends_once(
    client: httpx.AsyncClient, family: Family, teacher: dict[str, str], smtp_server: SmtpServer
) -> None:
    olga = await choose(family.olga, now=vl(10, 9), timezone=VLADIVOSTOK, **DAILY_GRADES)
    await post_grade(client, teacher, family, family.anna, at=vl(10, 10))
    assert await digests.send_digests(user_id=str(olga.id), now=vl(10, 18, 5)) == 1
    assert await digests.send_digests(user_id=str(olga.id), now=vl(10, 18, 5)) == 0
    assert len(received(smtp_server, olga)) == 1
    assert await digest_keys(olga) == [f"digest:daily:{olga.id}:2025-06-10"]


async def test_a_job_that_runs_before_the_digest_is_due_does_nothing(
    client: httpx.AsyncClient, family: Family, teacher: dict[str, str], smtp_server: SmtpServer
) -> None:
    olga = await choose(family.olga, now=vl(10, 9), timezone=VLADIVOSTOK, **DAILY_GRADES)
    await post_grade(client, teacher, family, family.anna, at=vl(10, 10))
    assert await digests.send_digests(user_id=str(olga.id), now=vl(10, 17, 59)) == 0
    assert received(smtp_server, olga) == []
    assert daily_due(await stored(olga)) == vl(10, 18)
    assert await pending_titles(olga) == ["Anna Petrova: новая оценка, math"]


async def test_a_crash_after_the_email_was_written_does_not_send_it_again(
    client: httpx.AsyncClient, family: Family, teacher: dict[str, str], smtp_server: SmtpServer
) -> None:
    olga = await choose(family.olga, now=vl(10, 9), timezone=VLADIVOSTOK, **DAILY_GRADES)
    await post_grade(client, teacher, family, family.anna, at=vl(10, 10))
    await post_grade(client, teacher, family, family.boris, at=vl(10, 11))
    assert await digests.send_digests(user_id=str(olga.id), now=vl(10, 18, 5)) == 1
    # Undo what came after writing the email, as if the worker died right then.
    await Notification.get_motor_collection().update_many(
        {"recipient_id": olga.id}, {"$set": {"digested_at": None}}
    )
    await NotificationSettings.get_motor_collection().update_one(
        {"_id": olga.id},
        {"$set": {"digest_due.daily": vl(10, 18), "next_digest_at": vl(10, 18)}},
    )
    # Meanwhile another grade arrived; it is not in the email already written.
    await post_grade(client, teacher, family, family.anna, at=vl(10, 18, 20), value=2)

    assert await digests.scan(now=vl(10, 18, 30)) == 1  # the job is retried...
    mail = received(smtp_server, olga)
    assert len(mail) == 1  # ...and sends nothing new
    assert await Email.find({"recipient_id": olga.id}).count() == 1
    # The retried job finished the bookkeeping: what the email held is digested, the due
    # time moved, and the late grade waits for tomorrow.
    refreshed = await stored(olga)
    assert daily_due(refreshed) == vl(11, 18)
    assert as_utc(refreshed.next_digest_at) == vl(11, 18)  # type: ignore[arg-type]
    assert await pending_titles(olga) == ["Anna Petrova: новая оценка, math"]
    digested = await Notification.find(
        {"recipient_id": olga.id, "digested_at": {"$ne": None}}
    ).to_list()
    assert sorted(n.title for n in digested) == [
        "Anna Petrova: новая оценка, math",
        "Boris Petrov: новая оценка, math",
    ]
    assert await digests.scan(now=vl(11, 18)) == 1
    mail = received(smtp_server, olga)
    assert len(mail) == 2
    assert "math: 2 (текущая)" in text_of(mail[1]) and "Boris" not in text_of(mail[1])


async def test_a_crash_recovered_the_next_evening_still_sends_that_evenings_digest(
    client: httpx.AsyncClient, family: Family, teacher: dict[str, str], smtp_server: SmtpServer
) -> None:
    olga = await choose(family.olga, now=vl(10, 9), timezone=VLADIVOSTOK, **DAILY_GRADES)
    await post_grade(client, teacher, family, family.anna, at=vl(10, 10))
    assert await digests.send_digests(user_id=str(olga.id), now=vl(10, 18, 5)) == 1
    await Notification.get_motor_collection().update_many(
        {"recipient_id": olga.id}, {"$set": {"digested_at": None}}
    )
    await NotificationSettings.get_motor_collection().update_one(
        {"_id": olga.id},
        {"$set": {"digest_due.daily": vl(10, 18), "next_digest_at": vl(10, 18)}},
    )
    await post_grade(client, teacher, family, family.boris, at=vl(11, 12))

    # Back the next evening: the retried job only finishes the 10th's bookkeeping...
    assert await digests.scan(now=vl(11, 18, 30)) == 1
    assert len(received(smtp_server, olga)) == 1
    assert daily_due(await stored(olga)) == vl(11, 18)
    # ...and the 11th, not served yet, goes out at once with what is new.
    assert await digests.scan(now=vl(11, 18, 31)) == 1
    mail = received(smtp_server, olga)
    assert len(mail) == 2
    assert "Boris Petrov" in text_of(mail[1]) and "Anna" not in text_of(mail[1])
    assert await digest_keys(olga) == [
        f"digest:daily:{olga.id}:2025-06-10",
        f"digest:daily:{olga.id}:2025-06-11",
    ]
    assert daily_due(await stored(olga)) == vl(12, 18)


async def test_a_racing_job_that_wrote_the_email_first_wins_and_nothing_is_lost(
    client: httpx.AsyncClient,
    family: Family,
    teacher: dict[str, str],
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    olga = await choose(family.olga, now=vl(10, 9), timezone=VLADIVOSTOK, **DAILY_GRADES)
    await post_grade(client, teacher, family, family.anna, at=vl(10, 10))
    first = await Notification.find_one({"recipient_id": olga.id})
    assert first is not None and first.id is not None
    await post_grade(client, teacher, family, family.boris, at=vl(10, 17))
    real_queue_email = delivery.queue_email

    async def another_worker_wrote_it_first(email: Email) -> Email:
        # The other job saw only the first grade and wrote its email a moment earlier.
        rival = email.model_copy(update={"id": None, "notification_ids": [first.id]})
        await rival.insert()
        return await real_queue_email(email)

    monkeypatch.setattr(delivery, "queue_email", another_worker_wrote_it_first)
    await digests.send_digests(user_id=str(olga.id), now=vl(10, 18, 5))
    monkeypatch.setattr(delivery, "queue_email", real_queue_email)

    assert await Email.find({"recipient_id": olga.id}).count() == 1
    # Only what the written email holds is digested; Boris's grade goes tomorrow.
    assert await pending_titles(olga) == ["Boris Petrov: новая оценка, math"]
    assert await digests.scan(now=vl(11, 18)) == 1
    [tomorrow] = [m for m in received(smtp_server, olga) if "Boris" in text_of(m)]
    assert "Anna" not in text_of(tomorrow)


@pytest.mark.parametrize(
    ("back_at", "next_due"),
    [(vl(12, 10), vl(12, 18)), (vl(12, 18, 30), vl(13, 18)), (vl(12, 21), vl(13, 18))],
    ids=["back before that day's hour", "back within that day's hour", "back after it"],
)
async def test_a_missed_digest_goes_out_once_when_the_workers_are_back(
    client: httpx.AsyncClient,
    family: Family,
    teacher: dict[str, str],
    smtp_server: SmtpServer,
    back_at: datetime,
    next_due: datetime,
) -> None:
    olga = await choose(family.olga, now=vl(10, 9), timezone=VLADIVOSTOK, **DAILY_GRADES)
    await post_grade(client, teacher, family, family.anna, at=vl(10, 10), value=5)
    await post_grade(client, teacher, family, family.boris, at=vl(11, 12), value=4)
    await post_grade(client, teacher, family, family.anna, at=vl(12, 9), value=3)

    # The workers were down from the 10th until `back_at`: one digest, not three.
    assert await digests.scan(now=back_at) == 1
    [digest] = received(smtp_server, olga)
    assert digest["Subject"] == "Ежедневная сводка Schoolbell: 3 события"
    assert await digests.scan(now=back_at) == 0
    refreshed = await stored(olga)
    assert daily_due(refreshed) == next_due
    assert as_utc(refreshed.next_digest_at) == next_due  # type: ignore[arg-type]

    # What comes next waits for the next slot: never a second digest the same evening.
    await post_grade(client, teacher, family, family.boris, at=back_at + MINUTE, value=2)
    assert await digests.scan(now=back_at + 2 * MINUTE) == 0
    assert await digests.scan(now=next_due - MINUTE) == 0
    assert len(received(smtp_server, olga)) == 1
    assert await digests.scan(now=next_due) == 1
    mail = received(smtp_server, olga)
    assert len(mail) == 2
    assert "math: 2 (текущая)" in text_of(mail[1]) and "5 (текущая)" not in text_of(mail[1])
