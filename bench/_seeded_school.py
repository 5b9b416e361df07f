"""The school the round-trip benchmarks measure on, and the app settings they run it with.

One school of real size: 8 classes of 40 students, a parent each, teachers, 4,800 grades,
a few thousand notifications, subscriptions and emails, and a guardian code mailed to the
first parent (the join page it opens is measured).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

JOIN_CODE = "BENCH234"
CLASSES = 8
STUDENTS_PER_CLASS = 40
GRADES_PER_STUDENT = 15
ANNOUNCEMENTS = 200
OTHER_NOTIFICATIONS = 2_000
EMAILS = 400
SUBJECTS = ["math", "russian", "Literature", "history"]
PASSWORD = "bench-password-long-enough"


def bench_settings(**overrides: Any) -> Any:
    """The app on the embedded database, with no Redis or SMTP, as both measurements run it."""
    from app.core.config import Settings

    return Settings(
        _env_file=None,
        jwt_secret="bench-secret-that-is-long-enough-for-hs256",
        mongodb_url=None,
        redis_url=None,
        smtp_host=None,
        **overrides,
    )


@dataclass
class Seeded:
    ids: dict[str, str]
    emails: dict[str, str]
    page_tokens: dict[str, str]


async def seed(settings: Any) -> Seeded:
    from beanie import PydanticObjectId

    from app.announcements.models import Announcement, AnnouncementStatus
    from app.auth.models import AccountToken, AccountTokenPurpose, Role, User
    from app.core.security import hash_password, hash_token, new_opaque_token, utcnow
    from app.delivery.models import Email, EmailKind, EmailStatus
    from app.grades.models import Grade
    from app.messages.models import Conversation, Message, Participant
    from app.notifications import links
    from app.notifications.models import Notification, Subscription, TargetType
    from app.schools.models import (
        GuardianCode,
        GuardianLink,
        School,
        SchoolClass,
        TeacherAssignment,
    )

    now = utcnow()
    password_hash = hash_password(PASSWORD)
    school_id = PydanticObjectId()

    def person(role: Role, name: str, schools: bool = True) -> User:
        return User(
            id=PydanticObjectId(),
            email=f"{name}@bench.example.org",
            full_name=name.replace(".", " ").title(),
            role=role,
            password_hash=password_hash,
            school_ids=[school_id] if schools else [],
            email_verified=True,
        )

    admin = person(Role.admin, "admin")
    teachers = [person(Role.teacher, f"teacher.{n}") for n in range(CLASSES)]
    students = [person(Role.student, f"student.{n}") for n in range(CLASSES * STUDENTS_PER_CLASS)]
    parents = [person(Role.parent, f"parent.{n}", schools=False) for n in range(len(students))]
    classes = [
        SchoolClass(
            name=f"{5 + n // 2}{'AB'[n % 2]}",
            student_ids=[
                s.id for s in students[n * STUDENTS_PER_CLASS : (n + 1) * STUDENTS_PER_CLASS]
            ],
            teachers=[
                TeacherAssignment(teacher_id=teachers[n].id, subjects=SUBJECTS[:2]),
                # The first teacher teaches literature in every class.
                TeacherAssignment(teacher_id=teachers[0].id, subjects=["Literature"]),
            ]
            if n
            else [TeacherAssignment(teacher_id=teachers[0].id, subjects=SUBJECTS)],
        )
        for n in range(CLASSES)
    ]
    school = School(id=school_id, name="Bench school", timezone="Europe/Moscow", classes=classes)
    await school.insert()
    await User.insert_many([admin, *teachers, *students, *parents])
    await GuardianLink.insert_many(
        [
            GuardianLink(parent_id=p.id, student_id=s.id)
            for p, s in zip(parents, students, strict=True)
        ]
    )
    await Subscription.insert_many(
        [
            Subscription(
                subscriber_id=p.id,
                subscriber_role=Role.parent,
                target_type=TargetType.student,
                target_id=s.id,
                school_id=school_id,
            )
            for p, s in zip(parents, students, strict=True)
        ]
    )
    grades = []
    for number, student in enumerate(students):
        class_number = number // STUDENTS_PER_CLASS
        for g in range(GRADES_PER_STUDENT):
            grades.append(
                Grade(
                    school_id=school_id,
                    class_id=classes[class_number].id,
                    student_id=student.id,
                    teacher_id=teachers[class_number].id,
                    subject=SUBJECTS[g % len(SUBJECTS)],
                    value=2 + (number + g) % 4,
                    date=dt.datetime(2025, 9, 1, tzinfo=dt.UTC) + dt.timedelta(days=g),
                )
            )
    await Grade.insert_many(grades)
    announcements = [
        Announcement(
            id=PydanticObjectId(),
            school_id=school_id,
            author_id=admin.id,
            title=f"Announcement {n}",
            body="Body",
            publish_at=now - dt.timedelta(days=n),
            status=AnnouncementStatus.published,
            recipients=3,
            created_at=now - dt.timedelta(days=n),
        )
        for n in range(ANNOUNCEMENTS)
    ]
    await Announcement.insert_many(announcements)
    student, parent, teacher = students[0], parents[0], teachers[0]
    notifications = [
        Notification(
            event_key=a.event_key,
            recipient_id=who.id,
            school_id=school_id,
            topic="announcements",
            title=a.title,
            body=a.body,
            data={"announcement_id": str(a.id), "school_id": str(school_id)},
            created_at=a.created_at,
        )
        for a in announcements
        for who in (student, parent, teacher)
    ]
    notifications += [
        Notification(
            event_key=f"grade:{n}",
            recipient_id=students[1 + n % (len(students) - 1)].id,
            school_id=school_id,
            topic="grades",
            title="Grade",
            body="A grade",
            created_at=now - dt.timedelta(minutes=n),
        )
        for n in range(OTHER_NOTIFICATIONS)
    ]
    await Notification.insert_many(notifications)
    await Email.insert_many(
        [
            Email(
                idempotency_key=f"bench:{n}",
                kind=EmailKind.immediate,
                to=parents[n % len(parents)].email,
                recipient_id=parents[n % len(parents)].id,
                subject="Subject",
                text="Text",
                html="<p>Html</p>",
                status=[EmailStatus.sent, EmailStatus.failed, EmailStatus.dead][n % 3],
                school_id=school_id,
                source_id=announcements[n % 5].id,
                created_at=now - dt.timedelta(minutes=n),
            )
            for n in range(EMAILS)
        ]
    )
    await GuardianCode(
        code_hash=hash_token(JOIN_CODE),
        student_id=student.id,
        issued_by=admin.id,
        expires_at=now + dt.timedelta(days=7),
        email=parent.email,
    ).insert()
    # The parent's conversation with her child's teacher: 40 messages, half read.
    assert parent.id is not None and teacher.id is not None
    conversation = Conversation(
        id=PydanticObjectId(),
        school_id=school_id,
        subject="Homework",
        participants=[
            Participant(user_id=parent.id, role=Role.parent),
            Participant(user_id=teacher.id, role=Role.teacher),
        ],
        participant_ids=[parent.id, teacher.id],
        started_by=parent.id,
        sent={str(parent.id): 20, str(teacher.id): 20},
        read_upto={str(parent.id): 10, str(teacher.id): 20},
        last_message_at=now,
    )
    await conversation.insert()
    await Message.insert_many(
        [
            Message(
                conversation_id=conversation.id,
                sender_id=(parent.id, teacher.id)[n % 2],
                seq=n // 2 + 1,
                text=f"Message {n}",
                created_at=now - dt.timedelta(minutes=40 - n),
            )
            for n in range(40)
        ]
    )
    page_tokens = {}
    pages = {
        AccountTokenPurpose.verify_email: "/verify-email",
        AccountTokenPurpose.password_reset: "/reset-password",
        AccountTokenPurpose.invite: "/set-password",
    }
    for purpose, page in pages.items():
        token = new_opaque_token()
        await AccountToken(
            token_hash=hash_token(token),
            purpose=purpose,
            user_id=parent.id,
            email=parent.email,
            expires_at=now + dt.timedelta(minutes=30),
        ).insert()
        page_tokens[page] = token
    assert parent.id is not None
    page_tokens["/unsubscribe"] = links.unsubscribe_token(
        settings=settings, user_id=parent.id, topics=["grades"]
    )
    page_tokens["/api/v1/unsubscribe"] = page_tokens["/unsubscribe"]
    page_tokens["/preferences"] = links.preferences_token(settings=settings, user_id=parent.id)
    return Seeded(
        ids={
            "school_id": str(school_id),
            "class_id": str(classes[0].id),
            "student_id": str(student.id),
            "announcement_id": str(announcements[0].id),
            "conversation_id": str(conversation.id),
        },
        emails={
            "admin": admin.email,
            "teacher": teacher.email,
            "student": student.email,
            "parent": parent.email,
        },
        page_tokens=page_tokens,
    )
