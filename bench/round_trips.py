"""Database round trips of every GET route, for each kind of caller, on a school of real size.

Seeds one school (8 classes of 40 students, a parent each, teachers, 4,800 grades, a few
thousand notifications, subscriptions and emails), logs in as its admin, a teacher, a
student and her parent, then calls every GET route the app serves (taken from the app's
own route table, so a new route is measured without editing this file) as each of them,
and as nobody for the public ones. The driver is wrapped to count the calls that would
each be one round trip to MongoDB; mongomock answers from memory, so time says nothing.
Rate-limit counters live in Redis or in memory and are not counted. Each request is
measured cold (the caller not remembered: the first after a login, or 10 s later) and
warm (the same again at once).

    uv run python bench/round_trips.py [--project OTHER_CHECKOUT]

--project imports the app from another checkout (say, `git archive main` unpacked in a
temporary folder) with this checkout's environment, for a before/after table.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

# A guardian code the seed mails to the first parent: the join page it opens is measured.
JOIN_CODE = "BENCH234"
PATH_VARIANTS: dict[str, list[str]] = {
    "/api/v1/students/{student_id}/grades": ["", "?subject=%20MATH%20"],
    "/api/v1/students/{student_id}/grades/summary": ["", "?subject=math"],
    "/api/v1/notifications": ["", "?unread_only=true&topic=announcements"],
    "/api/v1/users": ["", "?role=student&q=student%201"],
    "/join": ["", f"?code={JOIN_CODE}"],
    # A class of 40; bench/gradebook.py measures 30 and 300.
    "/api/v1/schools/{school_id}/classes/{class_id}/gradebook": ["?subject=math"],
}
CLASSES = 8
STUDENTS_PER_CLASS = 40
GRADES_PER_STUDENT = 15
ANNOUNCEMENTS = 200
OTHER_NOTIFICATIONS = 2_000
EMAILS = 400
SUBJECTS = ["math", "russian", "Literature", "history"]
PASSWORD = "bench-password-long-enough"
ROLES = ("admin", "teacher", "student", "parent")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", help="import the app from this checkout instead")
    parser.add_argument(
        "--broadcast",
        type=int,
        nargs="*",
        default=[1000, 5000],
        help="audience sizes of the broadcast measured after the routes",
    )
    parser.add_argument("--routes-only", action="store_true", help="skip the broadcasts")
    parser.add_argument("--broadcasts-only", action="store_true", help="skip the routes")
    args = parser.parse_args()
    if args.project and os.environ.get("ROUND_TRIPS_PROJECT") != args.project:
        # The other checkout's `app` must come before this one's on the import path.
        env = {
            **os.environ,
            "ROUND_TRIPS_PROJECT": args.project,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [args.project, os.environ.get("PYTHONPATH")])
            ),
        }
        os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], env)
    if not args.broadcasts_only:
        asyncio.run(measure())
    if not args.routes_only:
        for size in args.broadcast:
            asyncio.run(measure_broadcast(size))


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


def get_routes(app: Any) -> list[tuple[str, Any]]:
    """Every GET path the app serves, with whether it sits behind a bearer token."""
    from fastapi.routing import APIRoute

    def walk(routes: list[Any], prefix: str = "") -> Any:
        for route in routes:
            if hasattr(route, "original_router"):  # an included router (FastAPI 0.16x)
                yield from walk(route.original_router.routes, prefix + route.include_context.prefix)
            elif "GET" in (getattr(route, "methods", None) or ()):
                yield prefix, route

    found = []
    for prefix, route in walk(app.router.routes):
        found.append((prefix + route.path, isinstance(route, APIRoute) and _needs_token(route)))
    return sorted(set(found))


def _needs_token(route: Any) -> bool:
    from fastapi.security import OAuth2PasswordBearer

    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        if isinstance(dependant.call, OAuth2PasswordBearer):
            return True
        pending.extend(dependant.dependencies)
    return False


async def measure() -> None:
    import httpx
    from _round_trips_counter import counting
    from mongomock_motor import AsyncMongoMockClient

    from app.main import create_app

    settings = bench_settings(
        login_rate_per_account="1000/minute", login_rate_per_client="1000/minute"
    )
    app = create_app(settings, mongo_client=AsyncMongoMockClient(tz_aware=True))
    async with app.router.lifespan_context(app):
        seeded = await seed(settings)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            headers: dict[str, dict[str, str]] = {"-": {}}
            for role, email in seeded.emails.items():
                answer = await http.post(
                    "/api/v1/auth/login", data={"username": email, "password": PASSWORD}
                )
                answer.raise_for_status()
                headers[role] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
            rows = []
            for path, needs_token in get_routes(app):
                url = path.format(**seeded.ids, user_id=seeded.ids["student_id"])
                callers = ROLES if needs_token else ("-",)
                for variant in PATH_VARIANTS.get(path, [""]):
                    query = variant
                    if path in seeded.page_tokens:
                        query = f"?token={seeded.page_tokens[path]}"
                    for caller in callers:
                        # The fewest of two tries: the job relay's poll (every 5 s, in the
                        # background) may land inside one of them.
                        tries = []
                        for _ in range(2):
                            forget_callers()
                            with counting() as cold:
                                answer = await http.get(url + query, headers=headers[caller])
                            with counting() as warm:
                                await http.get(url + query, headers=headers[caller])
                            tries.append((cold, warm))
                        cold = min((c for c, _ in tries), key=lambda c: sum(c.values()))
                        warm = min((w for _, w in tries), key=lambda w: sum(w.values()))
                        rows.append((path + variant, caller, answer.status_code, cold, warm))
    print_table(rows)


def forget_callers() -> None:
    """The first request of a caller, as after a login or once the remembered user expired."""
    try:
        from app.auth import user_cache
    except ImportError:  # a checkout from before the callers were remembered
        return
    user_cache.forget_all()


def print_table(rows: list[tuple[str, str, int, Counter[str], Counter[str]]]) -> None:
    """Cold: the caller not remembered (first request after login, or after 10 s). Warm:
    the same request again at once."""
    width = max(len(r[0]) for r in rows)
    print(
        f"{'GET route':<{width}}  {'caller':<7} {'status':>6} {'cold':>4} {'warm':>4}  cold calls"
    )
    for route, caller, status, cold, warm in rows:
        operations = ", ".join(f"{name} {n}" for name, n in sorted(cold.items()))
        trips = f"{sum(cold.values()):>4} {sum(warm.values()):>4}"
        print(f"{route:<{width}}  {caller:<7} {status:>6} {trips}  {operations}")
    for label, trips_of in (
        ("cold", lambda r: sum(r[3].values())),
        ("warm", lambda r: sum(r[4].values())),
    ):
        worst = max(trips_of(r) for r in rows)
        over = sorted({r[0] for r in rows if trips_of(r) > 3})
        print(f"\n{label}: max round trips per GET request {worst}; routes over 3: {len(over)}")
        for route in over:
            print(f"  {route}")


class CollectingDispatcher:
    """Keeps the jobs asked for, so each phase of a broadcast is run and counted apart."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, dict[str, Any]]] = []

    async def enqueue(
        self, name: str, *, countdown: float, request_id: str | None, **kwargs: Any
    ) -> None:
        if countdown <= 0:
            self.asked.append((name, kwargs))


async def measure_broadcast(size: int) -> None:
    """An announcement to a school's `size` students, from the POST to the last email: round
    trips of the request, of the fan-out per 1,000 recipients, and of sending per email
    (to the file transport, so only the database is counted)."""
    import tempfile
    from pathlib import Path

    import httpx
    from _round_trips_counter import counting
    from beanie import PydanticObjectId
    from mongomock_motor import AsyncMongoMockClient

    from app.auth import user_cache
    from app.auth.models import Role, User
    from app.core import jobs
    from app.core.security import hash_password
    from app.delivery.models import Email, EmailStatus
    from app.main import create_app
    from app.schools.models import School

    data_dir = Path(tempfile.mkdtemp(prefix="bench-broadcast-"))
    settings = bench_settings(
        SCHOOLBELL_DATA_DIR=data_dir,
        email_rate_per_second=10_000,
    )
    dispatcher = CollectingDispatcher()
    app = create_app(
        settings, mongo_client=AsyncMongoMockClient(tz_aware=True), dispatcher=dispatcher
    )
    async with app.router.lifespan_context(app):
        school_id = PydanticObjectId()
        await School(id=school_id, name="Bench school", timezone="Europe/Moscow").insert()
        password_hash = hash_password(PASSWORD)
        admin = User(
            email="admin@broadcast.example.org",
            full_name="Admin",
            role=Role.admin,
            password_hash=password_hash,
            school_ids=[school_id],
            email_verified=True,
        )
        await admin.insert()
        await User.get_motor_collection().insert_many(
            [
                User(
                    email=f"s{n}@broadcast.example.org",
                    full_name=f"Student {n}",
                    role=Role.student,
                    password_hash="-",
                    school_ids=[school_id],
                ).model_dump(by_alias=True, exclude={"id"})
                for n in range(size)
            ]
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            login = await http.post(
                "/api/v1/auth/login", data={"username": admin.email, "password": PASSWORD}
            )
            login.raise_for_status()
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            with counting() as request:
                answer = await http.post(
                    "/api/v1/announcements",
                    headers=headers,
                    json={
                        "school_id": str(school_id),
                        "title": "Concert",
                        "body": "Friday at 18:00",
                        "roles": ["student"],
                        "requires_ack": True,
                    },
                )
            answer.raise_for_status()
        phases: dict[str, Counter[str]] = {"fan-out": Counter(), "sending": Counter()}
        while dispatcher.asked:
            name, kwargs = dispatcher.asked.pop(0)
            phase = "sending" if name == "delivery.send_emails" else "fan-out"
            with counting() as trips:
                await jobs.run(name, kwargs, request_id=None)
            phases[phase] += trips
        # The students asked to acknowledge: the list's first page, and the figures with
        # their counts, must cost the same whatever the audience.
        announcement = f"/api/v1/announcements/{answer.json()['id']}"
        reads: list[str] = []
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            # A large fan-out can outlast the first token: sign in again, uncounted.
            login = await http.post(
                "/api/v1/auth/login", data={"username": admin.email, "password": PASSWORD}
            )
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            for path in (f"{announcement}/acks", announcement):
                user_cache.forget_all()  # cold, as a fan-out that took a while leaves it
                with counting() as trips:
                    (await http.get(path, headers=headers)).raise_for_status()
                shown = path.replace(answer.json()["id"], "{id}")
                reads.append(f"  GET {shown}: {sum(trips.values())} round trips")
    sent = await Email.find({"status": EmailStatus.sent}).count()
    fan_out, sending = sum(phases["fan-out"].values()), sum(phases["sending"].values())
    print(
        f"\nbroadcast to {size:,} students: the POST {sum(request.values())} round trips; "
        f"fan-out {fan_out} ({fan_out / (size / 1000):.1f} per 1,000 recipients); "
        f"{sent:,} emails sent in {sending} round trips ({sending / max(sent, 1):.3f} per email)"
    )
    print(f"  fan-out calls: {dict(sorted(phases['fan-out'].items()))}")
    print(f"  sending calls: {dict(sorted(phases['sending'].items()))}")
    print("\n".join(reads))


if __name__ == "__main__":
    main()
