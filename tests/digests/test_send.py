"""Digests sent through a real SMTP server: when, to whom, with what, and never twice."""

from __future__ import annotations

import httpx

from app.auth.models import User
from app.core.security import as_utc
from app.delivery.models import Email, EmailStatus
from app.notifications import digests as digests
from tests.conftest import SmtpServer
from tests.digests.helpers import (
    DAILY_GRADES,
    LOS_ANGELES,
    VLADIVOSTOK,
    Family,
    announce,
    choose,
    daily_due,
    digest_keys,
    html_of,
    la,
    local,
    pending_titles,
    post_grade,
    received,
    stored,
    text_of,
    vl,
)


async def test_daily_digests_follow_each_users_own_evening(
    client: httpx.AsyncClient, family: Family, teacher: dict[str, str], smtp_server: SmtpServer
) -> None:
    start = local("UTC", 2025, 6, 10, 2)
    olga = await choose(
        family.olga,
        now=start,
        timezone=VLADIVOSTOK,
        email={"grades": "daily", "announcements": "daily"},
    )
    emma = await choose(family.emma, now=start, timezone=LOS_ANGELES, **DAILY_GRADES)
    assert daily_due(await stored(olga)) == vl(10, 18)
    assert daily_due(await stored(emma)) == la(10, 18)

    await post_grade(
        client, teacher, family, family.anna, at=vl(10, 11), value=5, comment="Great work"
    )
    await post_grade(
        client, teacher, family, family.boris, at=vl(10, 14), value=4, subject="english"
    )
    await announce(family, [olga], at=vl(10, 15), title="Parents' meeting", body="Thursday 19:00")
    await post_grade(
        client, teacher, family, family.anna, at=vl(10, 16), value=3, subject="english"
    )

    # 18:05 in Vladivostok is 01:05 in Los Angeles: only Olga's evening has come.
    assert await digests.scan(now=vl(10, 18, 5)) == 1
    assert received(smtp_server, emma) == []
    [first] = received(smtp_server, olga)
    assert first["Subject"] == "Ежедневная сводка Schoolbell: 4 события"
    text = text_of(first)
    assert text.startswith("Ежедневная сводка: 4 события.")
    anna, boris, news = (
        text.index("== Anna Petrova · Оценки =="),
        text.index("== Boris Petrov · Оценки =="),
        text.index("== Объявления =="),
    )
    assert anna < boris < news
    anna_part, boris_part, news_part = text[anna:boris], text[boris:news], text[news:]
    # Times are Olga's own, in order, each item under its child, with its teacher.
    by = family.world.teacher.full_name
    assert f"- 10 июня 2025, 11:00  math: 5 (текущая) · {by} — Great work\n" in anna_part
    assert f"- 10 июня 2025, 16:00  english: 3 (текущая) · {by}\n" in anna_part
    assert anna_part.index("10 июня 2025, 11:00") < anna_part.index("10 июня 2025, 16:00")
    assert boris_part.count("\n- ") == 1
    assert f"- 10 июня 2025, 14:00  english: 4 (текущая) · {by}\n" in boris_part
    assert "- 10 июня 2025, 15:00  Parents' meeting: Thursday 19:00" in news_part
    assert "Отписаться: http://testserver/unsubscribe?token=" in text
    html = html_of(first)
    assert "<h3>Anna Petrova · Оценки</h3>" in html
    assert (
        f"<li>10 июня 2025, 11:00 — <strong>math</strong>: <strong>5</strong> (текущая) · {by}"
        in html
    )
    assert "<h3>Boris Petrov · Оценки</h3>" in html
    assert "<h3>Объявления</h3>" in html
    assert "<strong>Parents' meeting</strong>: Thursday 19:00" in html
    assert 'lang="ru"' in html

    await post_grade(client, teacher, family, family.anna, at=vl(10, 20), value=4)
    # Later that day (Vladivostok is already on the 11th): Emma's 18:05, Olga not due again.
    assert await digests.scan(now=la(10, 18, 5)) == 1
    assert len(received(smtp_server, olga)) == 1
    [for_emma] = received(smtp_server, emma)
    assert for_emma["Subject"] == "Your daily Schoolbell digest: 3 updates"
    text = text_of(for_emma)
    assert text.startswith("Your daily digest: 3 updates.")
    assert "== Anna Petrova · Grades ==" in text
    assert "Boris" not in text and "Parents' meeting" not in text
    # 11:00 in Vladivostok on the 10th was 18:00 on the 9th in Los Angeles.
    assert f"- 9 June 2025, 18:00  math: 5 (regular) · {by} — Great work\n" in text
    assert f"- 10 June 2025, 03:00  math: 4 (regular) · {by}\n" in text
    assert "Unsubscribe: http://testserver/unsubscribe?token=" in text
    assert 'lang="en"' in html_of(for_emma)

    # Olga's next evening covers only what came after her last digest.
    assert await digests.scan(now=vl(11, 18, 5)) == 1
    olga_mail = received(smtp_server, olga)
    assert len(olga_mail) == 2 and len(received(smtp_server, emma)) == 1
    assert olga_mail[1]["Subject"] == "Ежедневная сводка Schoolbell: 1 событие"
    second = text_of(olga_mail[1])
    assert f"- 10 июня 2025, 20:00  math: 4 (текущая) · {by}\n" in second
    assert "Anna Petrova · Оценки" in second
    assert "Boris" not in second and "Parents' meeting" not in second and "Great work" not in second

    assert await digest_keys(olga) == [
        f"digest:daily:{olga.id}:2025-06-10",
        f"digest:daily:{olga.id}:2025-06-11",
    ]
    assert await digest_keys(emma) == [f"digest:daily:{emma.id}:2025-06-10"]
    assert await pending_titles(olga) == [] and await pending_titles(emma) == []
    assert all(e.status == EmailStatus.sent for e in await Email.find().to_list())
    assert daily_due(await stored(olga)) == vl(12, 18)
    assert daily_due(await stored(emma)) == la(11, 18)


async def test_html_escapes_what_people_typed(
    client: httpx.AsyncClient, family: Family, teacher: dict[str, str], smtp_server: SmtpServer
) -> None:
    emma = await choose(
        family.emma,
        now=la(10, 9),
        timezone=LOS_ANGELES,
        email={"grades": "daily", "announcements": "daily"},
    )
    await announce(family, [emma], at=la(10, 10), title="<script>x()</script>", body="a & b")
    await post_grade(client, teacher, family, family.anna, at=la(10, 11), comment="<b>5+</b>")
    await digests.scan(now=la(10, 18))
    [digest] = received(smtp_server, emma)
    html = html_of(digest)
    assert "<script>" not in html and "<b>5+</b>" not in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html and "&lt;b&gt;5+&lt;/b&gt;" in html
    assert "a &amp; b" in html
    # The plain text part is not HTML: it shows what was typed.
    assert "<script>x()</script>: a & b" in text_of(digest)


async def test_nothing_pending_sends_nothing_and_still_moves_on(
    client: httpx.AsyncClient, family: Family, teacher: dict[str, str], smtp_server: SmtpServer
) -> None:
    olga = await choose(
        family.olga,
        now=vl(10, 9),
        timezone=VLADIVOSTOK,
        email={"grades": "daily", "announcements": "weekly"},
    )
    # Something for the weekly digest is not something for the daily one.
    await announce(family, [olga], at=vl(10, 10), title="Trip", body="Zoo")
    assert await digests.scan(now=vl(10, 18, 5)) == 1
    assert received(smtp_server, olga) == []
    assert await Email.find({"recipient_id": olga.id}).count() == 0
    refreshed = await stored(olga)
    assert daily_due(refreshed) == vl(11, 18)
    assert as_utc(refreshed.next_digest_at) == vl(11, 18)  # type: ignore[arg-type]
    assert await pending_titles(olga) == ["Trip"]
    assert await digests.scan(now=vl(10, 18, 30)) == 0


async def test_a_deleted_user_gets_no_digest(
    client: httpx.AsyncClient, family: Family, teacher: dict[str, str], smtp_server: SmtpServer
) -> None:
    olga = await choose(family.olga, now=vl(10, 9), timezone=VLADIVOSTOK, **DAILY_GRADES)
    await post_grade(client, teacher, family, family.anna, at=vl(10, 10))
    await User.get_motor_collection().update_one(
        {"_id": olga.id}, {"$set": {"deleted_at": vl(10, 12)}}
    )
    assert await digests.scan(now=vl(10, 18, 5)) == 0
    assert await digests.send_digests(user_id=str(olga.id), now=vl(10, 18, 5)) == 0
    assert received(smtp_server, olga) == []


async def test_weekly_digests_go_on_the_digest_weekday_in_each_zone(
    client: httpx.AsyncClient, family: Family, teacher: dict[str, str], smtp_server: SmtpServer
) -> None:
    weekly = {
        "email": {"grades": "weekly", "announcements": "off", "homework": "off"},
        "digest_weekday": 5,
    }
    # Monday 9 June 2025; the digest weekday is Friday the 13th.
    olga = await choose(family.olga, now=vl(9, 12), timezone=VLADIVOSTOK, **weekly)
    emma = await choose(family.emma, now=vl(9, 12), timezone=LOS_ANGELES, **weekly)
    olga_due, emma_due = (await stored(olga)).digest_due, (await stored(emma)).digest_due
    assert as_utc(olga_due.weekly) == vl(13, 18)  # type: ignore[arg-type]
    assert as_utc(emma_due.weekly) == la(13, 18)  # type: ignore[arg-type]
    assert olga_due.daily is None and emma_due.daily is None

    await post_grade(client, teacher, family, family.anna, at=vl(10, 12), value=4)
    await post_grade(client, teacher, family, family.anna, at=vl(11, 12), value=5)
    for moment in (vl(10, 18, 5), vl(12, 18, 5), la(12, 18, 5), vl(13, 17, 59)):
        assert await digests.scan(now=moment) == 0
    assert received(smtp_server, olga) == [] and received(smtp_server, emma) == []

    # Friday 18:05 in Vladivostok is Friday 02:05 in Los Angeles.
    assert await digests.scan(now=vl(13, 18, 5)) == 1
    [for_olga] = received(smtp_server, olga)
    assert received(smtp_server, emma) == []
    assert for_olga["Subject"] == "Еженедельная сводка Schoolbell: 2 события"
    assert text_of(for_olga).startswith("Еженедельная сводка: 2 события.")

    assert await digests.scan(now=la(13, 18, 5)) == 1
    [for_emma] = received(smtp_server, emma)
    assert for_emma["Subject"] == "Your weekly Schoolbell digest: 2 updates"
    assert "math: 4 (regular)" in text_of(for_emma) and "math: 5 (regular)" in text_of(for_emma)

    # Saturday and the rest of the week: nothing; the next ones are a week later.
    for moment in (vl(14, 18, 5), la(14, 18, 5), vl(19, 18, 5)):
        assert await digests.scan(now=moment) == 0
    assert await digest_keys(olga) == [f"digest:weekly:{olga.id}:2025-W24"]
    assert await digest_keys(emma) == [f"digest:weekly:{emma.id}:2025-W24"]
    assert as_utc((await stored(olga)).digest_due.weekly) == vl(20, 18)  # type: ignore[arg-type]
    assert as_utc((await stored(emma)).digest_due.weekly) == la(20, 18)  # type: ignore[arg-type]
