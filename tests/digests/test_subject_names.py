"""Digests name subjects as the school's list does, in each reader's language."""

from __future__ import annotations

import httpx

from app.notifications import digests
from app.subjects.models import Subject, subject_code
from tests.conftest import SmtpServer
from tests.digests.helpers import (
    DAILY_GRADES,
    VLADIVOSTOK,
    Family,
    choose,
    html_of,
    local,
    post_grade,
    received,
    text_of,
    vl,
)


async def test_a_digest_names_the_subject_in_the_readers_language(
    client: httpx.AsyncClient, family: Family, teacher: dict[str, str], smtp_server: SmtpServer
) -> None:
    school_id = family.world.school.id
    assert school_id is not None
    await Subject(
        school_id=school_id,
        code="math",
        key=subject_code("math"),
        names={"ru": "Математика", "en": "Mathematics"},
    ).insert()
    start = local("UTC", 2025, 6, 10, 2)
    olga = await choose(family.olga, now=start, timezone=VLADIVOSTOK, **DAILY_GRADES)
    emma = await choose(family.emma, now=start, timezone=VLADIVOSTOK, **DAILY_GRADES)

    await post_grade(client, teacher, family, family.anna, at=vl(10, 11), value=5)
    assert await digests.scan(now=vl(10, 18, 5)) == 2

    [russian] = received(smtp_server, olga)
    assert "Математика: 5 (текущая)" in text_of(russian)
    assert "<strong>Математика</strong>" in html_of(russian)
    assert "math" not in text_of(russian)
    [english] = received(smtp_server, emma)
    assert "Mathematics: 5 (regular)" in text_of(english)
