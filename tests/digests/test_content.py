"""What a digest holds: hidden grade values, only its own frequency, never immediate mail."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from app.auth.models import User
from app.delivery.models import Email
from app.notifications import digests as digests
from app.notifications.models import Notification
from tests.conftest import SmtpServer
from tests.digests.helpers import (
    DAILY_GRADES,
    LOS_ANGELES,
    VLADIVOSTOK,
    Family,
    announce,
    choose,
    html_of,
    la,
    local,
    post_grade,
    received,
    text_of,
    vl,
)

Login = Callable[[User], dict[str, str]]


@pytest.mark.parametrize(
    ("parent", "zone", "hidden"),
    [
        ("emma", LOS_ANGELES, "open Schoolbell to see the grade"),
        ("olga", VLADIVOSTOK, "оценку можно посмотреть в Schoolbell"),
    ],
    ids=["en", "ru"],
)
async def test_grade_values_stay_out_when_the_parent_said_so(
    client: httpx.AsyncClient,
    family: Family,
    teacher: dict[str, str],
    smtp_server: SmtpServer,
    parent: str,
    zone: str,
    hidden: str,
) -> None:
    user = await choose(
        getattr(family, parent),
        now=local(zone, 2025, 6, 10, 9),
        timezone=zone,
        email={"grades": "daily", "announcements": "daily"},
        include_grade_values=False,
    )
    await post_grade(
        client,
        teacher,
        family,
        family.anna,
        at=local(zone, 2025, 6, 10, 10),
        value=2,
        comment="Needs practice with fractions",
    )
    await announce(family, [user], at=local(zone, 2025, 6, 10, 11), title="Trip", body="Zoo at 9")
    assert await digests.scan(now=local(zone, 2025, 6, 10, 18)) == 1
    [digest] = received(smtp_server, user)
    for part in (text_of(digest), html_of(digest)):
        # The child, the subject, the kind and the teacher stay.
        assert "Anna Petrova" in part and family.world.teacher.full_name in part
        kind = "текущая" if 'lang="ru"' in html_of(digest) else "regular"
        assert f"math</strong>: {kind}, {hidden}" in part or f"math: {kind}, {hidden}" in part
        assert f"({kind})" not in part and "fractions" not in part
        # Other topics keep their text.
        assert "Zoo at 9" in part


async def test_immediate_notifications_are_not_in_the_digest(
    client: httpx.AsyncClient, family: Family, teacher: dict[str, str], smtp_server: SmtpServer
) -> None:
    emma = await choose(
        family.emma,
        now=la(10, 9),
        timezone=LOS_ANGELES,
        email={"grades": "immediate", "announcements": "daily"},
    )
    await post_grade(client, teacher, family, family.anna, at=la(10, 10), value=4)
    [grade_mail] = received(smtp_server, emma)  # sent at once, on its own
    assert "Grade: 4 (regular)" in text_of(grade_mail)
    await announce(family, [emma], at=la(10, 11), title="Trip", body="Zoo at 9")

    assert await digests.scan(now=la(10, 18)) == 1
    mail = received(smtp_server, emma)
    assert len(mail) == 2
    digest = mail[1]
    assert digest["Subject"] == "Your daily Schoolbell digest: 1 update"
    assert "Trip: Zoo at 9" in text_of(digest)
    assert "Anna Petrova" not in text_of(digest) and "(regular)" not in text_of(digest)


async def test_daily_and_weekly_digests_of_one_user_are_independent(
    client: httpx.AsyncClient, family: Family, teacher: dict[str, str], smtp_server: SmtpServer
) -> None:
    # Tuesday 10 June; the weekly digest goes on Friday the 13th.
    olga = await choose(
        family.olga,
        now=vl(10, 9),
        timezone=VLADIVOSTOK,
        email={"grades": "daily", "announcements": "weekly"},
        digest_weekday=5,
    )
    await post_grade(client, teacher, family, family.anna, at=vl(10, 10), value=5)
    await announce(family, [olga], at=vl(10, 11), title="Trip", body="Zoo on Friday")

    assert await digests.scan(now=vl(10, 18, 5)) == 1
    [tuesday] = received(smtp_server, olga)
    assert tuesday["Subject"] == "Ежедневная сводка Schoolbell: 1 событие"
    assert "Anna Petrova" in text_of(tuesday) and "Trip" not in text_of(tuesday)

    # Wednesday and Thursday: nothing for either digest, no email.
    assert await digests.scan(now=vl(11, 18, 5)) == 1
    assert await digests.scan(now=vl(12, 18, 5)) == 1
    assert len(received(smtp_server, olga)) == 1
    await post_grade(client, teacher, family, family.boris, at=vl(13, 12), value=4)
    await announce(family, [olga], at=vl(13, 13), title="Concert", body="Saturday 11:00")
    # Friday evening: both digests are due; each is its own email with its own items.
    assert await digests.scan(now=vl(13, 18, 5)) == 1
    mail = received(smtp_server, olga)
    assert len(mail) == 3
    by_subject = {str(m["Subject"]): text_of(m) for m in mail[1:]}
    daily = by_subject["Ежедневная сводка Schoolbell: 1 событие"]
    weekly = by_subject["Еженедельная сводка Schoolbell: 2 события"]
    assert "Boris Petrov" in daily and "Trip" not in daily and "Concert" not in daily
    assert "Trip: Zoo on Friday" in weekly and "Concert: Saturday 11:00" in weekly
    assert "Boris" not in weekly and "Anna" not in weekly
    keys = sorted(e.idempotency_key for e in await Email.find({"recipient_id": olga.id}).to_list())
    assert keys == sorted(
        [
            f"digest:daily:{olga.id}:2025-06-10",
            f"digest:daily:{olga.id}:2025-06-13",
            f"digest:weekly:{olga.id}:2025-W24",
        ]
    )


async def test_a_grade_corrected_before_the_digest_is_in_it_once_with_the_final_value(
    client: httpx.AsyncClient,
    family: Family,
    teacher: dict[str, str],
    login_as: Login,
    smtp_server: SmtpServer,
) -> None:
    emma = await choose(family.emma, now=la(10, 9), timezone=LOS_ANGELES, **DAILY_GRADES)
    grade_id = await post_grade(client, teacher, family, family.anna, at=la(10, 10), value=3)
    response = await client.patch(f"/grades/{grade_id}", json={"value": 4}, headers=teacher)
    assert response.status_code == 200
    await digests.scan(now=la(10, 18))
    [digest] = received(smtp_server, emma)
    text = text_of(digest)
    assert "- 10 June 2025, 10:00  math: 4 (regular) · " in text
    assert "math: 3" not in text and "changed" not in text


async def test_a_grade_corrected_after_its_digest_says_so_in_the_next(
    client: httpx.AsyncClient,
    family: Family,
    teacher: dict[str, str],
    login_as: Login,
    smtp_server: SmtpServer,
) -> None:
    emma = await choose(family.emma, now=la(10, 9), timezone=LOS_ANGELES, **DAILY_GRADES)
    grade_id = await post_grade(client, teacher, family, family.anna, at=la(10, 10), value=3)
    await digests.scan(now=la(10, 18))
    [first] = received(smtp_server, emma)
    assert "- 10 June 2025, 10:00  math: 3 (regular) · " in text_of(first)
    response = await client.patch(f"/grades/{grade_id}", json={"value": 4}, headers=teacher)
    assert response.status_code == 200
    await digests.scan(now=la(11, 18))
    [_, second] = received(smtp_server, emma)
    assert "- 10 June 2025, 10:00  math: 4 (regular), changed · " in text_of(second)


async def test_a_grade_deleted_before_the_digest_never_reaches_it(
    client: httpx.AsyncClient, family: Family, teacher: dict[str, str], smtp_server: SmtpServer
) -> None:
    emma = await choose(family.emma, now=la(10, 9), timezone=LOS_ANGELES, **DAILY_GRADES)
    grade_id = await post_grade(client, teacher, family, family.anna, at=la(10, 10), value=2)
    kept = await post_grade(client, teacher, family, family.anna, at=la(10, 11), value=4)
    assert (await client.delete(f"/grades/{grade_id}", headers=teacher)).status_code == 204
    await digests.scan(now=la(10, 18))
    [digest] = received(smtp_server, emma)
    text = text_of(digest)
    assert "math: 4 (regular)" in text and "math: 2" not in text and "withdrawn" not in text
    assert kept


async def test_a_grade_deleted_after_its_digest_is_withdrawn_in_the_next(
    client: httpx.AsyncClient, family: Family, teacher: dict[str, str], smtp_server: SmtpServer
) -> None:
    emma = await choose(family.emma, now=la(10, 9), timezone=LOS_ANGELES, **DAILY_GRADES)
    grade_id = await post_grade(client, teacher, family, family.anna, at=la(10, 10), value=2)
    await digests.scan(now=la(10, 18))
    assert (await client.delete(f"/grades/{grade_id}", headers=teacher)).status_code == 204
    # The withdrawal's notice, dated on the test's clock as post_grade dates grades.
    await Notification.get_motor_collection().update_many(
        {"recipient_id": emma.id, "data.withdrawn": True}, {"$set": {"created_at": la(11, 10)}}
    )
    await digests.scan(now=la(11, 18))
    [first, second] = received(smtp_server, emma)
    assert "math: 2" in text_of(first)
    text = text_of(second)
    assert "math: 2" not in text
    assert "was withdrawn" in text and "in math" in text


async def test_switching_a_topic_to_the_other_digest_takes_its_pending_items_along(
    client: httpx.AsyncClient, family: Family, teacher: dict[str, str], smtp_server: SmtpServer
) -> None:
    # Tuesday 10 June, the weekly digest on Friday the 13th.
    emma = await choose(family.emma, now=la(10, 9), timezone=LOS_ANGELES, **DAILY_GRADES)
    await post_grade(client, teacher, family, family.anna, at=la(10, 10), value=3)
    emma = await choose(
        emma,
        now=la(10, 12),
        # Homework's daily digest off too, so no topic keeps a daily digest due.
        email={"grades": "weekly", "announcements": "off", "homework": "off"},
        digest_weekday=5,
    )
    await post_grade(client, teacher, family, family.anna, at=la(11, 10), value=5)
    for day in (10, 11, 12):
        assert await digests.scan(now=la(day, 18, 5)) == 0
    assert await digests.scan(now=la(13, 18, 5)) == 1
    [weekly] = received(smtp_server, emma)
    assert weekly["Subject"] == "Your weekly Schoolbell digest: 2 updates"
    assert "math: 3 (regular)" in text_of(weekly) and "math: 5 (regular)" in text_of(weekly)
