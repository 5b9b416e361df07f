"""A demo school for `schoolbell dev --demo`: two classes, teachers, students, parents, grades,
5A's homework and an absence.

Written with the Beanie documents directly so it depends on nothing but the models.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from beanie import PydanticObjectId

from app.announcements.models import Announcement, AnnouncementStatus
from app.announcements.service import PUBLISH_DUE_JOB
from app.attendance.demo import demo_absence
from app.attendance.models import AttendanceMark
from app.auth.models import Locale, Role, User
from app.core import jobs
from app.core.security import hash_password, utcnow
from app.core.timezones import today_in
from app.events.demo import DemoAnswer, add_demo_meeting, remove_demo_meetings
from app.events.models import Answer
from app.grades.models import DEFAULT_WEIGHTS, Grade, GradeKind
from app.homework.demo import demo_homework
from app.homework.models import Homework
from app.messages.demo import add_demo_conversation, remove_conversations_of
from app.notifications.models import Subscription, TargetType
from app.schools.models import GuardianLink, School, SchoolClass, TeacherAssignment
from app.subjects.models import Subject, subject_code
from app.timetable.demo import add_demo_week, remove_demo_week

DEMO_PASSWORD = "schoolbell-demo"
DEMO_SCHOOL_NAME = "Schoolbell Demo School"
DEMO_TIMEZONE = "Europe/Moscow"
DEMO_DOMAIN = "demo.example.org"
DEMO_ADMIN_EMAIL = f"admin@{DEMO_DOMAIN}"


@dataclass(frozen=True)
class DemoAccount:
    key: str
    email: str
    full_name: str
    role: Role
    note: str
    locale: Locale = Locale.en


# The admin comes last: it is inserted last, so its presence means the whole demo is there.
ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount(
        "math",
        f"teacher.math@{DEMO_DOMAIN}",
        "Irina Petrova",
        Role.teacher,
        "math in 5A and 6B",
    ),
    DemoAccount(
        "russian",
        f"teacher.russian@{DEMO_DOMAIN}",
        "Olga Kuznetsova",
        Role.teacher,
        "russian and literature in 5A",
        Locale.ru,
    ),
    DemoAccount("masha", f"masha@{DEMO_DOMAIN}", "Masha Ivanova", Role.student, "5A"),
    DemoAccount("petya", f"petya@{DEMO_DOMAIN}", "Petya Smirnov", Role.student, "5A"),
    DemoAccount("lena", f"lena@{DEMO_DOMAIN}", "Lena Volkova", Role.student, "5A"),
    DemoAccount("sasha", f"sasha@{DEMO_DOMAIN}", "Sasha Ivanov", Role.student, "6B"),
    DemoAccount("dima", f"dima@{DEMO_DOMAIN}", "Dima Orlov", Role.student, "6B"),
    DemoAccount("katya", f"katya@{DEMO_DOMAIN}", "Katya Fedorova", Role.student, "6B"),
    DemoAccount(
        "elena",
        f"parent.ivanova@{DEMO_DOMAIN}",
        "Elena Ivanova",
        Role.parent,
        "parent of Masha (5A) and Sasha (6B)",
        Locale.ru,
    ),
    DemoAccount(
        "sergey",
        f"parent.smirnov@{DEMO_DOMAIN}",
        "Sergey Smirnov",
        Role.parent,
        "parent of Petya (5A)",
    ),
    DemoAccount(
        "maria", f"parent.orlova@{DEMO_DOMAIN}", "Maria Orlova", Role.parent, "parent of Dima (6B)"
    ),
    DemoAccount("admin", DEMO_ADMIN_EMAIL, "Anna Sokolova", Role.admin, "school admin"),
)

CLASS_ROSTERS = {"5A": ("masha", "petya", "lena"), "6B": ("sasha", "dima", "katya")}
# class name -> teacher key -> subjects taught there
CLASS_TEACHERS = {
    "5A": {"math": ["math"], "russian": ["russian", "literature"]},
    "6B": {"math": ["math"]},
}
# code -> its names, as the school admin would have typed them
SUBJECT_NAMES = {
    "math": {"ru": "Математика", "en": "Mathematics"},
    "russian": {"ru": "Русский язык", "en": "Russian"},
    "literature": {"ru": "Литература", "en": "Literature"},
}
GUARDIANS = {"elena": ("masha", "sasha"), "sergey": ("petya",), "maria": ("dima",)}
# Typical grades per student, so the summaries differ from one child to the next.
TENDENCY = {"masha": 5, "petya": 4, "lena": 4, "sasha": 4, "dima": 3, "katya": 5}
COMMENTS = ("Well done", "Homework incomplete", "Good answer at the board", "Careless mistakes")

LESSONS_PER_SUBJECT = 5
TERM_DAYS = 70


async def demo_loaded() -> bool:
    return await User.find_one(User.email == DEMO_ADMIN_EMAIL) is not None


async def load_demo(*, today: date | None = None) -> bool:
    """Insert the demo school unless it is already there; True when it was inserted now."""
    if await demo_loaded():
        return False
    await _remove_partial_demo()
    # The school's own date: after 21:00 UTC it is already tomorrow in Moscow.
    today = today or today_in(DEMO_TIMEZONE)
    password_hash = await asyncio.to_thread(hash_password, DEMO_PASSWORD)
    ids = {account.key: PydanticObjectId() for account in ACCOUNTS}
    school_id = PydanticObjectId()

    classes = [
        SchoolClass(
            name=name,
            year=int(name[:-1]),
            student_ids=[ids[key] for key in CLASS_ROSTERS[name]],
            teachers=[
                TeacherAssignment(teacher_id=ids[teacher], subjects=subjects)
                for teacher, subjects in CLASS_TEACHERS[name].items()
            ],
        )
        for name in CLASS_ROSTERS
    ]
    users = [
        User(
            id=ids[account.key],
            email=account.email,
            full_name=account.full_name,
            role=account.role,
            password_hash=password_hash,
            school_ids=[] if account.role is Role.parent else [school_id],
            locale=account.locale,
            timezone=DEMO_TIMEZONE,
            email_verified=True,
        )
        for account in ACCOUNTS
    ]
    admin = users.pop()
    await User.insert_many(users)
    await School(
        id=school_id, name=DEMO_SCHOOL_NAME, timezone=DEMO_TIMEZONE, classes=classes
    ).insert()
    pairs = [
        (ids[parent], ids[child]) for parent, children in GUARDIANS.items() for child in children
    ]
    await GuardianLink.insert_many([GuardianLink(parent_id=p, student_id=c) for p, c in pairs])
    # As redeeming a guardian code does: a linked parent follows the child.
    await Subscription.insert_many(
        [
            Subscription(
                subscriber_id=parent_id,
                subscriber_role=Role.parent,
                target_type=TargetType.student,
                target_id=child_id,
                school_id=school_id,
            )
            for parent_id, child_id in pairs
        ]
    )
    await Subject.insert_many(
        [
            Subject(school_id=school_id, code=code, key=subject_code(code), names=names)
            for code, names in SUBJECT_NAMES.items()
        ]
    )
    await Grade.insert_many(_grades(school_id, classes, ids, today))
    # Due now: published by the job as any announcement, so the parents of 5A are asked to
    # confirm it (their emails carry the button) and the admin sees who has.
    await Announcement(
        school_id=school_id,
        author_id=ids["admin"],
        title="New school rules",
        body="Please read the new school rules for the second term and confirm you have.",
        class_ids=[classes[0].id],
        publish_at=utcnow(),
        status=AnnouncementStatus.scheduled,
        requires_ack=True,
    ).insert()
    await add_demo_week(
        school_id=school_id,
        classes=classes,
        admin_id=ids["admin"],
        today=today,
    )
    # A 5A parent and the maths teacher have written to each other.
    await add_demo_conversation(
        school_id=school_id, parent_id=ids["sergey"], teacher_id=ids["math"], now=utcnow()
    )
    await add_demo_meeting(
        school_id=school_id,
        class_id=classes[0].id,
        author_id=ids["admin"],
        answers=[
            DemoAnswer(ids["elena"], Answer.yes, guests=1, student_ids=[ids["masha"]]),
            DemoAnswer(ids["sergey"], Answer.maybe, comment="Depends on my shift"),
        ],
        now=utcnow(),
    )
    await _school_day(school_id, classes[0], ids, today)
    await admin.insert()
    await jobs.enqueue(PUBLISH_DUE_JOB)
    return True


async def _remove_partial_demo() -> None:
    """A load cut short (a crash mid-way) left some demo users without the admin: start over."""
    emails = [account.email for account in ACCOUNTS]
    leftovers = await User.find({"email": {"$in": emails}}).to_list()
    if not leftovers:
        return
    user_ids = [user.id for user in leftovers]
    school_ids = list({school_id for user in leftovers for school_id in user.school_ids})
    await Grade.find({"school_id": {"$in": school_ids}}).delete()
    await Announcement.find({"school_id": {"$in": school_ids}}).delete()
    await Homework.find({"school_id": {"$in": school_ids}}).delete()
    await AttendanceMark.find({"school_id": {"$in": school_ids}}).delete()
    await Subject.find({"school_id": {"$in": school_ids}}).delete()
    await remove_demo_week(school_ids)
    await remove_demo_meetings(school_ids)
    await GuardianLink.find(
        {"$or": [{"parent_id": {"$in": user_ids}}, {"student_id": {"$in": user_ids}}]}
    ).delete()
    await Subscription.find({"subscriber_id": {"$in": user_ids}}).delete()
    await remove_conversations_of([u for u in user_ids if u is not None])
    await School.find({"_id": {"$in": school_ids}}).delete()
    await User.find({"_id": {"$in": user_ids}}).delete()


async def _school_day(
    school_id: PydanticObjectId,
    class_5a: SchoolClass,
    ids: dict[str, PydanticObjectId],
    today: date,
) -> None:
    """5A's homework for tonight and the days around it, and Petya's absence last school day."""
    authors = {
        subject: ids[teacher]
        for teacher, subjects in CLASS_TEACHERS[class_5a.name].items()
        for subject in subjects
    }
    await Homework.insert_many(
        demo_homework(school_id=school_id, class_id=class_5a.id, authors=authors, today=today)
    )
    await demo_absence(
        school_id=school_id,
        class_id=class_5a.id,
        student_id=ids["petya"],
        teacher_id=ids["math"],
        today=today,
    ).insert()


def _lesson_days(today: date, offset: int) -> list[date]:
    """Weekdays spread over the last ten weeks, oldest first."""
    step = TERM_DAYS // LESSONS_PER_SUBJECT
    days = []
    for index in range(LESSONS_PER_SUBJECT):
        day = today - timedelta(days=TERM_DAYS - offset - index * step)
        while day.weekday() >= 5:
            day -= timedelta(days=1)
        days.append(day)
    return days


def _grades(
    school_id: PydanticObjectId,
    classes: list[SchoolClass],
    ids: dict[str, PydanticObjectId],
    today: date,
) -> list[Grade]:
    rng = random.Random(5)  # the same demo every time, relative to today
    key_of = {value: key for key, value in ids.items()}
    grades: list[Grade] = []
    offset = 0
    for school_class in classes:
        for assignment in school_class.teachers:
            for subject in assignment.subjects:
                offset = (offset + 3) % 10
                days = _lesson_days(today, offset)
                test_day = days[2]
                for student_id in school_class.student_ids:
                    usual = TENDENCY[key_of[student_id]]
                    absent = rng.choice([d for d in days if d != test_day])
                    for day in days:
                        if day == absent:
                            continue
                        kind = GradeKind.test if day == test_day else GradeKind.regular
                        value = max(2, min(5, usual + rng.choice([-1, 0, 0, 0, 1])))
                        moment = datetime.combine(day, time(9, 30), tzinfo=UTC)
                        grades.append(
                            Grade(
                                school_id=school_id,
                                class_id=school_class.id,
                                student_id=student_id,
                                teacher_id=assignment.teacher_id,
                                subject=subject,
                                value=value,
                                kind=kind,
                                weight=DEFAULT_WEIGHTS[kind],
                                comment=rng.choice(COMMENTS) if rng.random() < 0.25 else None,
                                date=datetime.combine(day, time(), tzinfo=UTC),
                                created_at=moment,
                                updated_at=moment,
                            )
                        )
    return grades


def credentials_table() -> str:
    """Who can log in with which password, for the terminal."""
    rows = [("role", "email (username)", "password", "who")]
    order = [Role.admin, Role.teacher, Role.student, Role.parent]
    for role in order:
        for account in ACCOUNTS:
            if account.role is role:
                rows.append(
                    (
                        role.value,
                        account.email,
                        DEMO_PASSWORD,
                        f"{account.full_name}, {account.note}",
                    )
                )
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(line.rstrip() for line in lines)
