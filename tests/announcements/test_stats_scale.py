"""GET /stats on a larger school, and across two schools of one admin: every figure is
counted once, whatever the size (the figures come from one aggregation over the schools)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from beanie import PydanticObjectId

from app.auth.models import Role, User
from app.core.security import utcnow
from app.delivery.models import Email, EmailKind, EmailStatus
from app.notifications.models import Notification, Subscription, TargetType
from app.schools.models import GuardianLink, School
from tests.announcements.helpers import Login

STUDENTS = 60


def _user(role: Role, n: int, school_ids: list[PydanticObjectId], **fields: object) -> User:
    return User(
        id=PydanticObjectId(),
        email=f"{role.value}.{n}@scale.example.org",
        full_name=f"{role.value} {n}",
        role=role,
        password_hash="unused",
        school_ids=school_ids,
        **fields,
    )


async def test_stats_of_a_larger_school_and_a_second_one(
    client: httpx.AsyncClient, login_as: Login
) -> None:
    now = utcnow()
    big, small, elsewhere = School(name="Big"), School(name="Small"), School(name="Elsewhere")
    for school in (big, small, elsewhere):
        await school.insert()
    assert big.id and small.id and elsewhere.id
    admin = _user(Role.admin, 0, [big.id, small.id])
    teachers = [_user(Role.teacher, n, [big.id]) for n in range(5)]
    # One teacher works in both of the admin's schools: counted once.
    teachers.append(_user(Role.teacher, 5, [big.id, small.id]))
    # Every tenth student is soft-deleted; one student sits in both schools.
    students = [
        _user(Role.student, n, [big.id], deleted_at=now if n % 10 == 9 else None)
        for n in range(STUDENTS)
    ]
    students.append(_user(Role.student, STUDENTS, [big.id, small.id]))
    # A parent per student; every third one has a second child (the next student); the
    # parents of students 0-4 are soft-deleted.
    parents = [
        _user(Role.parent, n, [], deleted_at=now if n < 5 else None) for n in range(len(students))
    ]
    outsiders = [_user(Role.student, 1000, [elsewhere.id]), _user(Role.parent, 1000, [])]
    await User.insert_many([admin, *teachers, *students, *parents, *outsiders])
    links = [
        GuardianLink(parent_id=p.id, student_id=s.id)
        for p, s in zip(parents, students, strict=True)
    ]
    links += [
        GuardianLink(parent_id=parents[n].id, student_id=students[n + 1].id)
        for n in range(0, len(students) - 1, 3)
    ]
    links.append(GuardianLink(parent_id=outsiders[1].id, student_id=outsiders[0].id))
    await GuardianLink.insert_many(links)
    # Every parent follows their child in the big school, the first ten also the small
    # school (each counted once); a deleted parent's subscriptions stay but do not count.
    subscriptions = [
        Subscription(
            subscriber_id=p.id,
            subscriber_role=Role.parent,
            target_type=TargetType.student,
            target_id=s.id,
            school_id=big.id,
        )
        for p, s in zip(parents, students, strict=True)
    ]
    subscriptions += [
        Subscription(
            subscriber_id=p.id,
            subscriber_role=Role.parent,
            target_type=TargetType.school,
            target_id=small.id,
            school_id=small.id,
        )
        for p in parents[:10]
    ]
    subscriptions.append(
        Subscription(
            subscriber_id=outsiders[1].id,
            subscriber_role=Role.parent,
            target_type=TargetType.school,
            target_id=elsewhere.id,
            school_id=elsewhere.id,
        )
    )
    await Subscription.insert_many(subscriptions)

    def notification(
        n: int, school: School, topic: str, hours_ago: float, read: bool
    ) -> Notification:
        created = now - timedelta(hours=hours_ago)
        return Notification(
            event_key=f"scale:{n}",
            recipient_id=students[n % len(students)].id,
            school_id=school.id,
            topic=topic,
            title="t",
            body="b",
            created_at=created,
            read_at=created if read else None,
        )

    notifications = [
        notification(n, big, "grades", hours_ago=n % 30 + 0.5, read=n % 4 == 0) for n in range(120)
    ]
    notifications += [
        notification(1000 + n, small, "announcements", hours_ago=1, read=n % 2 == 0)
        for n in range(10)
    ]
    notifications.append(notification(2000, elsewhere, "grades", hours_ago=1, read=False))
    await Notification.insert_many(notifications)
    statuses = [EmailStatus.sent, EmailStatus.failed, EmailStatus.dead, EmailStatus.pending]
    emails = [
        Email(
            idempotency_key=f"scale:{n}",
            kind=EmailKind.immediate,
            to=f"parent.{n}@scale.example.org",
            subject="s",
            text="t",
            html="<p>h</p>",
            status=statuses[n % 4],
            school_id=(big.id, small.id, elsewhere.id)[n % 3],
            created_at=now - timedelta(hours=n % 48 + 0.5),
        )
        for n in range(90)
    ]
    await Email.insert_many(emails)

    response = await client.get("/stats", headers=login_as(admin))
    assert response.status_code == 200, response.text
    stats = response.json()

    live_students = [s for s in students if s.deleted_at is None]
    linked_parents = {
        link.parent_id for link in links if link.student_id in {s.id for s in live_students}
    }
    live_parents = {p.id for p in parents if p.deleted_at is None}
    assert stats["school_ids"] == [str(big.id), str(small.id)]
    assert stats["users_by_role"] == {
        "admin": 1,
        "teacher": 6,
        "student": len(live_students),
        "parent": len(linked_parents & live_parents),
    }
    assert stats["users_by_role"]["student"] == 55
    assert stats["active_subscribers"] == len(live_parents) == len(students) - 5
    recent = [
        n
        for n in notifications
        if n.school_id in (big.id, small.id) and n.created_at >= now - timedelta(hours=24)
    ]
    read = sum(1 for n in recent if n.read_at is not None)
    assert stats["notifications_last_24h"] == {
        "total": len(recent),
        "read": read,
        "unread": len(recent) - read,
        "by_topic": {
            "grades": sum(1 for n in recent if n.topic == "grades"),
            "announcements": 10,
        },
    }
    counted = [
        e
        for e in emails
        if e.school_id in (big.id, small.id) and e.created_at > now - timedelta(hours=24)
    ]
    assert stats["emails_last_24h"] == {
        "pending": sum(1 for e in counted if e.status == EmailStatus.pending),
        "sending": 0,
        "sent": sum(1 for e in counted if e.status == EmailStatus.sent),
        "failed": sum(1 for e in counted if e.status == EmailStatus.failed),
        "dead": sum(1 for e in counted if e.status == EmailStatus.dead),
    }
