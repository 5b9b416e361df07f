"""Homework goes into the evening digest by default, worded in each reader's language."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx

from app.auth.models import User
from app.core.security import utcnow
from app.notifications import digests
from app.subjects.models import Subject, subject_code
from tests.conftest import SmtpServer
from tests.digests.helpers import Family, choose, received, text_of
from tests.homework.helpers import homework_set, school_day


async def test_homework_waits_for_the_daily_digest_and_reads_in_russian(
    client: httpx.AsyncClient,
    family: Family,
    login_as: Callable[[User], dict[str, str]],
    smtp_server: SmtpServer,
) -> None:
    world = family.world
    assert world.school.id is not None
    await Subject(
        school_id=world.school.id,
        code="math",
        key=subject_code("math"),
        names={"ru": "Математика", "en": "Mathematics"},
    ).insert()
    now = utcnow()
    olga = await choose(family.olga, now=now, timezone="Europe/Moscow")

    await homework_set(
        client, login_as(world.teacher), world, due=school_day(world, 1), text="Задачи 1-5"
    )

    assert received(smtp_server, olga) == []  # a daily digest by default: no email now
    assert await digests.scan(now=now + timedelta(days=1, hours=1)) >= 1
    [digest] = received(smtp_server, olga)
    text = text_of(digest)
    assert "5A, Математика: домашнее задание на " in text
    assert "Задачи 1-5" in text
