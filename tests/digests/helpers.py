"""A family to send digests to, a settable clock, and readers for the mail that arrived."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from beanie import PydanticObjectId

from app.announcements.topic import AnnouncementPayload
from app.auth.models import Locale, Role, User
from app.core.security import as_utc
from app.delivery.models import Email, EmailKind
from app.notifications import digest_schedule, fanout
from app.notifications import digests as digests
from app.notifications import service as notifications
from app.notifications.models import Notice, Notification, NotificationSettings
from app.notifications.preferences import Preferences
from app.notifications.settings import settings_of
from app.schools.models import GuardianLink, School
from tests.conftest import SmtpServer, UserFactory, World

UTC = ZoneInfo("UTC")
VLADIVOSTOK = "Asia/Vladivostok"  # UTC+10 all year
LOS_ANGELES = "America/Los_Angeles"  # UTC-7 in June


def local(zone: str, year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in `zone`, as the UTC instant the services are given."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def vl(day: int, hour: int, minute: int = 0) -> datetime:
    """June 2025 in Vladivostok (UTC+10)."""
    return local(VLADIVOSTOK, 2025, 6, day, hour, minute)


def la(day: int, hour: int, minute: int = 0) -> datetime:
    """June 2025 in Los Angeles (UTC-7)."""
    return local(LOS_ANGELES, 2025, 6, day, hour, minute)


# Homework's daily digest off too: these tests are about what grades put into digests.
DAILY_GRADES: dict[str, Any] = {
    "email": {"grades": "daily", "announcements": "off", "homework": "off"}
}


@dataclass
class Family:
    """Anna and Boris in 5A, taught maths and English by the world's teacher; Olga (ru)
    follows both children, Emma (en) follows Anna only. Tests choose their zones and digests."""

    world: World
    anna: User
    boris: User
    olga: User
    emma: User


def oid(user: User) -> PydanticObjectId:
    assert user.id is not None
    return user.id


async def _follow(parent: User, *children: User) -> None:
    for child in children:
        await GuardianLink(parent_id=oid(parent), student_id=oid(child)).insert()
        await notifications.subscribe_guardian(parent_id=oid(parent), student_id=oid(child))


async def build_family(world: World, make_user: UserFactory) -> Family:
    school_id = world.school.id
    assert school_id is not None
    await User.get_motor_collection().update_one(
        {"_id": world.student.id}, {"$set": {"full_name": "Anna Petrova"}}
    )
    boris = await make_user(Role.student, school_ids=[school_id], full_name="Boris Petrov")
    school = await School.get(school_id)
    assert school is not None
    school_class = school.find_class(world.class_5a.id)
    assert school_class is not None
    school_class.student_ids.append(oid(boris))
    school_class.teachers[0].subjects = ["math", "english"]
    await school.save()
    # The world's parent is linked to Anna without a subscription; start from nothing.
    await GuardianLink.find({"parent_id": world.parent.id}).delete()
    olga = await make_user(
        Role.parent, email="olga@example.org", full_name="Olga Petrova", locale=Locale.ru
    )
    emma = await make_user(Role.parent, email="emma@example.org", full_name="Emma Stone")
    anna = await User.get(oid(world.student))
    assert anna is not None
    await _follow(olga, anna, boris)
    await _follow(emma, anna)
    return Family(world=world, anna=anna, boris=boris, olga=olga, emma=emma)


async def choose(
    user: User, *, now: datetime, timezone: str | None = None, **preferences: Any
) -> User:
    """Set a user's preferences (and zone) the way the preference routes do, at `now`."""
    fresh = await User.get(oid(user))
    assert fresh is not None
    await digest_schedule.reschedule(
        user=fresh,
        settings=await settings_of(oid(user)),
        preferences=Preferences.model_validate(preferences),
        timezone=timezone or fresh.timezone,
        now=now,
    )
    if timezone is not None:
        # The account keeps the zone: what the profile route stores before digests move.
        await User.get_motor_collection().update_one(
            {"_id": fresh.id}, {"$set": {"timezone": timezone}}
        )
    return await reload(user)


async def stored(user: User) -> NotificationSettings:
    """The person's notification settings as stored now."""
    return await settings_of(oid(user))


async def reload(user: User) -> User:
    fresh = await User.get(oid(user))
    assert fresh is not None
    return fresh


async def post_grade(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    family: Family,
    student: User,
    *,
    at: datetime,
    value: int = 5,
    subject: str = "math",
    comment: str | None = None,
) -> str:
    """A teacher posts a grade; its notifications are dated `at` on the test's clock."""
    body: dict[str, Any] = {
        "student_id": str(student.id),
        "class_id": str(family.world.class_5a.id),
        "subject": subject,
        "value": value,
    }
    if comment is not None:
        body["comment"] = comment
    response = await client.post("/grades", json=body, headers=headers)
    assert response.status_code == 201, response.text
    grade_id = str(response.json()["id"])
    await Notification.get_motor_collection().update_many(
        {"data.grade_id": grade_id}, {"$set": {"created_at": at}}
    )
    return grade_id


async def announce(
    family: Family, recipients: list[User], *, at: datetime, title: str, body: str
) -> str:
    """An announcement reaches `recipients` through the fan-out, dated `at`."""
    key = f"announcement:{title}"
    event = Notice(
        key=key,
        topic="announcements",
        title=title,
        body=body,
        school_id=family.world.school.id,
        actor_id=family.world.admin.id,
        payload=AnnouncementPayload(
            school_name=family.world.school.name,
            author_name=family.world.admin.full_name,
        ),
    )
    await fanout.deliver(event, [oid(r) for r in recipients], now=at)
    await Notification.get_motor_collection().update_many(
        {"event_key": key}, {"$set": {"created_at": at}}
    )
    return key


def received(smtp: SmtpServer, user: User) -> list[EmailMessage]:
    return [m for m in smtp.messages if m["To"] == user.email]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    # SMTP carries CRLF; 7-bit parts keep it when decoded, base64 ones do not.
    return str(part.get_content()).replace("\r\n", "\n")


def html_of(message: EmailMessage) -> str:
    """The HTML part without the inline styles the layout adds, so tests read the content."""
    return re.sub(r' style="[^"]*"', "", _html_part(message))


def _html_part(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


Login = Callable[[User], dict[str, str]]


MINUTE = timedelta(minutes=1)


async def digest_keys(user: User) -> list[str]:
    emails = await Email.find({"recipient_id": user.id}).sort("created_at").to_list()
    assert all(e.kind == EmailKind.digest for e in emails)
    return [e.idempotency_key for e in emails]


async def pending_titles(user: User) -> list[str]:
    rows = await Notification.find(
        {"recipient_id": user.id, "email_decision": "digest", "digested_at": None}
    ).to_list()
    return sorted(n.title for n in rows)


def daily_due(user: NotificationSettings) -> datetime | None:
    return as_utc(user.digest_due.daily) if user.digest_due.daily else None
