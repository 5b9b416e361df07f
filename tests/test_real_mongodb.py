"""The main flows against a real MongoDB, when MONGODB_URL names one.

Everything else runs on mongomock, which accepts some things MongoDB refuses and the
other way round; this checks the queries, updates, indexes and aggregations on the
real server. It runs only with MONGODB_URL set (e.g. the compose file's MongoDB).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.auth.models import Role, User
from app.core.config import Settings
from app.core.security import create_access_token, utcnow
from app.events import notices
from app.main import create_app
from app.notifications.models import Notification
from app.schools.guardians import link_guardian
from app.schools.models import GuardianLink, School, SchoolClass, TeacherAssignment
from tests.auth.conftest import mailed_token
from tests.conftest import default_password_hash, make_settings

MONGODB_URL = os.environ.get("MONGODB_URL")

pytestmark = pytest.mark.skipif(
    not MONGODB_URL, reason="MONGODB_URL is not set: no real MongoDB to run against"
)


@dataclass
class RealApp:
    """The app on a fresh database of the real server, with an admin who runs one school
    with class 5A."""

    client: httpx.AsyncClient
    settings: Settings
    admin: User
    school: dict[str, Any]
    cls: dict[str, Any]

    def auth(self, user: User) -> dict[str, str]:
        token, _ = create_access_token(
            user_id=str(user.id), secret=self.settings.secret, minutes=15
        )
        return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def real_app(tmp_path: Path, domain: str) -> AsyncIterator[RealApp]:
    database = f"schoolbell_test_{uuid.uuid4().hex[:12]}"
    settings = make_settings(tmp_path / "data", mongodb_url=MONGODB_URL, mongodb_db=database)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            admin = User(
                email=f"admin@{domain}",
                full_name="Admin",
                role=Role.admin,
                password_hash=default_password_hash(),
            )
            await admin.insert()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test/api/v1"
            ) as client:
                real = RealApp(client, settings, admin, {}, {})
                real.school = (
                    await client.post("/schools", json={"name": "Real"}, headers=real.auth(admin))
                ).json()
                reloaded = await User.get(admin.id)  # now administers the school
                assert reloaded is not None
                real.admin = reloaded
                real.cls = (
                    await client.post(
                        f"/schools/{real.school['id']}/classes",
                        json={"name": "5A"},
                        headers=real.auth(reloaded),
                    )
                ).json()
                yield real
    finally:
        await app.state.mongo_client.drop_database(database)


def bearer(settings: Settings, user: User) -> dict[str, str]:
    token, _ = create_access_token(user_id=str(user.id), secret=settings.secret, minutes=15)
    return {"Authorization": f"Bearer {token}"}


async def teacher_and_student(real: RealApp) -> tuple[User, User]:
    """A maths teacher and a student of the real school's 5A, seated twice (idempotent)."""
    client, auth, admin, school, cls = real.client, real.auth, real.admin, real.school, real.cls
    people: dict[str, User] = {}
    for role in ("teacher", "student"):
        response = await client.post(
            "/users",
            json={
                "email": f"{role}@real.example.org",
                "password": "long-enough-password",
                "full_name": role.title(),
                "role": role,
                "school_id": school["id"],
            },
            headers=auth(admin),
        )
        assert response.status_code == 201, response.text
        created = await User.get(response.json()["id"])
        assert created is not None
        people[role] = created
    base = f"/schools/{school['id']}/classes/{cls['id']}"
    teacher, student = people["teacher"], people["student"]
    for _ in range(2):  # idempotent
        assert (
            await client.put(
                f"{base}/teachers/{teacher.id}",
                json={"subjects": ["math"]},
                headers=auth(admin),
            )
        ).status_code == 204
        assert (
            await client.put(f"{base}/students/{student.id}", headers=auth(admin))
        ).status_code == 204
    return teacher, student


async def test_school_roster_grades_summary_and_announcement_on_real_mongodb(
    tmp_path: Path,
) -> None:
    async with real_app(tmp_path, "real.example.org") as real:
        client, auth, admin = real.client, real.auth, real.admin
        school, cls = real.school, real.cls
        teacher, student = await teacher_and_student(real)
        for value, kind in ((5, "regular"), (3, "test")):
            response = await client.post(
                "/grades",
                json={
                    "student_id": str(student.id),
                    "class_id": cls["id"],
                    "subject": "math",
                    "value": value,
                    "kind": kind,
                },
                headers=auth(teacher),
            )
            assert response.status_code == 201, response.text
        summary = (
            await client.get(f"/students/{student.id}/grades/summary", headers=auth(student))
        ).json()
        assert summary["subjects"][0]["average"] == 4.0
        assert summary["subjects"][0]["weighted_average"] == pytest.approx(3.67)

        posted = await client.post(
            "/announcements",
            json={"school_id": school["id"], "title": "Hello", "body": "Real"},
            headers=auth(admin),
        )
        assert posted.status_code == 202, posted.text
        key = f"announcement:{posted.json()['id']}"
        assert await Notification.find({"event_key": key}).count() == 2


async def test_acknowledgements_on_real_mongodb(tmp_path: Path) -> None:
    """An announcement to students that asks for acknowledgement: the unique row per person,
    the conditional writes, the counts joined in the figures and the hourly reminder."""
    async with real_app(tmp_path, "acks.example.org") as real:
        client, auth, admin = real.client, real.auth, real.admin
        school, cls = real.school, real.cls
        students: list[User] = []
        for n in range(2):
            response = await client.post(
                "/users",
                json={
                    "email": f"student{n}@acks.example.org",
                    "password": "long-enough-password",
                    "full_name": f"Student {n}",
                    "role": "student",
                    "school_id": school["id"],
                },
                headers=auth(admin),
            )
            assert response.status_code == 201, response.text
            created = await User.get(response.json()["id"])
            assert created is not None
            students.append(created)
            roster = f"/schools/{school['id']}/classes/{cls['id']}/students/{created.id}"
            assert (await client.put(roster, headers=auth(admin))).status_code == 204

        posted = await client.post(
            "/announcements",
            json={
                "school_id": school["id"],
                "title": "Rules",
                "body": "Read them",
                "roles": ["student"],
                "requires_ack": True,
            },
            headers=auth(admin),
        )
        assert posted.status_code == 202, posted.text
        path = f"/announcements/{posted.json()['id']}"
        for _ in range(2):  # the second changes nothing
            answer = await client.post(f"{path}/ack", headers=auth(students[0]))
            assert answer.status_code == 204, answer.text
        page = (await client.get(f"{path}/acks", headers=auth(admin))).json()
        assert [row["user_id"] for row in page["acknowledged"]] == [str(students[0].id)]
        assert [row["user_id"] for row in page["pending"]] == [str(students[1].id)]
        stats = (await client.get(path, headers=auth(admin))).json()["stats"]
        assert (stats["acknowledged"], stats["pending"]) == (1, 1)
        export = await client.get(f"{path}/acks.csv", headers=auth(admin))
        assert export.status_code == 200 and "Student 0" in export.text
        assert (await client.post(f"{path}/remind", headers=auth(admin))).status_code == 202
        assert (await client.post(f"{path}/remind", headers=auth(admin))).status_code == 429
        reminded = f"announcement:{posted.json()['id']}:reminder:"
        reminders = await Notification.find({"event_key": {"$regex": f"^{reminded}"}}).to_list()
        assert [n.recipient_id for n in reminders] == [students[1].id]


async def test_a_class_imported_from_a_spreadsheet_on_real_mongodb(tmp_path: Path) -> None:
    from app.schools.models import GuardianCode, School

    database = f"schoolbell_test_{uuid.uuid4().hex[:12]}"
    settings = make_settings(tmp_path / "data", mongodb_url=MONGODB_URL, mongodb_db=database)
    app = create_app(settings)
    sheet = (
        b"role,full_name,email,class,subjects,parent_emails,locale\r\n"
        b"teacher,Irina Petrova,irina@real.example.org,5A,math;geometry,,ru\r\n"
        b"student,Masha Ivanova,,5A,,mum@real.example.org;dad@real.example.org,ru\r\n"
        b"student,Petya Smirnov,petya@real.example.org,5A,,olga@real.example.org,en\r\n"
    )
    try:
        async with app.router.lifespan_context(app):
            school = School(name="Real")
            await school.insert()
            admin = User(
                email="admin@real.example.org",
                full_name="Admin",
                role=Role.admin,
                password_hash=default_password_hash(),
                school_ids=[school.id],
            )
            await admin.insert()
            token, _ = create_access_token(
                user_id=str(admin.id), secret=settings.secret, minutes=15
            )
            headers = {"Authorization": f"Bearer {token}"}
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test/api/v1"
            ) as client:
                url = f"/schools/{school.id}/import"
                files = {"file": ("5A.csv", sheet)}
                dry = await client.post(
                    url, params={"dry_run": "true"}, files=files, headers=headers
                )
                assert dry.status_code == 200, dry.text
                assert await User.find({"role": "student"}).count() == 0
                first = await client.post(url, files=files, headers=headers)
                assert first.status_code == 200, first.text
                assert first.json()["created"] == dry.json()["created"]
                again = await client.post(url, files=files, headers=headers)
                assert again.json()["unchanged"] == 3
            stored = await School.get(school.id)
            assert stored is not None
            [class_5a] = stored.classes
            assert len(class_5a.student_ids) == 2 and len(class_5a.teachers) == 1
            assert class_5a.teachers[0].subjects == ["math", "geometry"]
            assert await GuardianCode.count() == 3
    finally:
        await app.state.mongo_client.drop_database(database)


async def test_a_parent_joins_from_the_code_email_and_lists_are_named_on_real_mongodb(
    tmp_path: Path,
) -> None:
    database = f"schoolbell_test_{uuid.uuid4().hex[:12]}"
    settings = make_settings(tmp_path / "data", mongodb_url=MONGODB_URL, mongodb_db=database)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            school = School(name="Real", classes=[])
            await school.insert()
            assert school.id is not None
            people = {}
            for role in (Role.admin, Role.teacher, Role.student):
                people[role] = User(
                    email=f"{role.value}@join.example.org",
                    full_name=f"{role.value.title()} Real",
                    role=role,
                    password_hash=default_password_hash(),
                    school_ids=[school.id],
                    email_verified=True,
                )
                await people[role].insert()
            admin, teacher, student = people[Role.admin], people[Role.teacher], people[Role.student]
            assert teacher.id is not None and student.id is not None
            school.classes.append(
                SchoolClass(
                    name="5A",
                    student_ids=[student.id],
                    teachers=[TeacherAssignment(teacher_id=teacher.id, subjects=["math"])],
                )
            )
            await school.save()

            def auth(user: User) -> dict[str, str]:
                token, _ = create_access_token(
                    user_id=str(user.id), secret=settings.secret, minutes=15
                )
                return {"Authorization": f"Bearer {token}"}

            transport = httpx.ASGITransport(app=app)
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as client,
                httpx.AsyncClient(transport=transport, base_url="http://test") as site,
            ):
                issued = await client.post(
                    f"/students/{student.id}/guardian-codes",
                    json={"email": "dad@join.example.org"},
                    headers=auth(admin),
                )
                assert issued.status_code == 201, issued.text
                code = issued.json()["code"]
                assert (await site.get("/join", params={"code": code})).status_code == 200
                joined = await site.post(
                    "/join/new",
                    data={
                        "code": code,
                        "new_full_name": "Dad Real",
                        "new_password": "dad-password-1",
                        "new_password_again": "dad-password-1",
                        "new_locale": "en",
                    },
                )
                assert joined.status_code == 202, joined.text
                token = mailed_token(settings, to="dad@join.example.org", path="verify-email")
                assert (await site.post("/verify-email", data={"token": token})).status_code == 200
                guardians = await client.get(
                    f"/students/{student.id}/guardians", headers=auth(teacher)
                )
                assert [g["full_name"] for g in guardians.json()["items"]] == ["Dad Real"]

                classes = await client.get("/users/me/classes", headers=auth(teacher))
                assert [(c["class_name"], c["students"]) for c in classes.json()["items"]] == [
                    ("5A", 1)
                ]
                grade = {
                    "student_id": str(student.id),
                    "class_id": str(school.classes[0].id),
                    "subject": "math",
                    "value": 5,
                }
                assert (
                    await client.post("/grades", json=grade, headers=auth(teacher))
                ).status_code == 201
                listed = await client.get(f"/students/{student.id}/grades", headers=auth(admin))
                [item] = listed.json()["items"]
                assert (item["teacher_name"], item["class_name"]) == ("Teacher Real", "5A")
                news = {"school_id": str(school.id), "title": "Hello", "body": "Real"}
                assert (
                    await client.post("/announcements", json=news, headers=auth(admin))
                ).status_code == 202
                [announcement] = (await client.get("/announcements", headers=auth(admin))).json()[
                    "items"
                ]
                assert announcement["author_name"] == "Admin Real"
                assert announcement["stats"]["recipients"] >= 2
    finally:
        await app.state.mongo_client.drop_database(database)


async def test_timetable_week_change_and_views_on_real_mongodb(tmp_path: Path) -> None:
    database = f"schoolbell_test_{uuid.uuid4().hex[:12]}"
    settings = make_settings(tmp_path / "data", mongodb_url=MONGODB_URL, mongodb_db=database)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            school = School(name="Real", timezone="Europe/Moscow")
            await school.insert()
            assert school.id is not None
            people = {}
            for role in (Role.admin, Role.teacher, Role.student):
                user = User(
                    email=f"{role.value}@timetable.example.org",
                    full_name=role.value.title(),
                    role=role,
                    password_hash=default_password_hash(),
                    school_ids=[school.id],
                )
                await user.insert()
                people[role] = user
            teacher, student = people[Role.teacher], people[Role.student]
            assert teacher.id is not None and student.id is not None
            five_a = SchoolClass(
                name="5A",
                student_ids=[student.id],
                teachers=[TeacherAssignment(teacher_id=teacher.id, subjects=["math"])],
            )
            school.classes.append(five_a)
            await school.save()

            def auth(user: User) -> dict[str, str]:
                return bearer(settings, user)

            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test/api/v1"
            ) as client:
                base = f"/schools/{school.id}/classes/{five_a.id}/timetable"
                lessons = [
                    {
                        "weekday": weekday,
                        "period": 1,
                        "starts": "08:30",
                        "ends": "09:15",
                        "subject": "Math",
                        "teacher_id": str(teacher.id),
                        "room": "12",
                    }
                    for weekday in range(1, 8)
                ]
                for _ in range(2):  # a replacement upserts the same document
                    put = await client.put(
                        base, json={"lessons": lessons}, headers=auth(people[Role.admin])
                    )
                    assert put.status_code == 200, put.text
                today = datetime.now(ZoneInfo("Europe/Moscow")).date()
                change = await client.post(
                    f"{base}/changes",
                    json={"date": today.isoformat(), "period": 1, "kind": "room", "room": "Gym"},
                    headers=auth(people[Role.admin]),
                )
                assert change.status_code == 201, change.text
                assert change.json()["notified"] is True
                key = f"schedule:{change.json()['id']}"
                assert await Notification.find({"event_key": key}).count() == 1
                for path, reader in (
                    (f"/students/{student.id}/timetable", student),
                    (f"/teachers/{teacher.id}/timetable", teacher),
                ):
                    week = await client.get(path, headers=auth(reader))
                    assert week.status_code == 200, week.text
                    (day,) = [d for d in week.json()["days"] if d["date"] == today.isoformat()]
                    assert day["lessons"][0]["room"] == "Gym"
                    assert day["lessons"][0]["change"]["kinds"] == ["room"]
    finally:
        await app.state.mongo_client.drop_database(database)


async def test_a_parent_and_the_teacher_write_read_and_a_relation_ends_on_real_mongodb(
    tmp_path: Path,
) -> None:
    database = f"schoolbell_test_{uuid.uuid4().hex[:12]}"
    settings = make_settings(tmp_path / "data", mongodb_url=MONGODB_URL, mongodb_db=database)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            school = School(name="Real")
            await school.insert()
            assert school.id is not None
            people: dict[str, User] = {}
            for role, schools in (
                (Role.admin, [school.id]),
                (Role.teacher, [school.id]),
                (Role.student, [school.id]),
                (Role.parent, []),
            ):
                people[role.value] = User(
                    email=f"{role.value}@real.example.org",
                    full_name=role.value.title(),
                    role=role,
                    password_hash=default_password_hash(),
                    school_ids=schools,
                    email_verified=True,
                )
                await people[role.value].insert()
            admin, teacher = people["admin"], people["teacher"]
            student, parent = people["student"], people["parent"]
            assert teacher.id is not None and student.id is not None and parent.id is not None
            class_5a = SchoolClass(
                name="5A",
                student_ids=[student.id],
                teachers=[TeacherAssignment(teacher_id=teacher.id, subjects=["math"])],
            )
            school.classes.append(class_5a)
            await school.save()
            await GuardianLink(parent_id=parent.id, student_id=student.id).insert()

            def auth(user: User) -> dict[str, str]:
                return bearer(settings, user)

            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test/api/v1"
            ) as client:
                started = await client.post(
                    "/conversations",
                    json={"participant_id": str(teacher.id), "subject": "Maths", "text": "Hi"},
                    headers=auth(parent),
                )
                assert started.status_code == 201, started.text
                cid = started.json()["id"]
                url = f"/conversations/{cid}/messages"
                for text in ("Two", "Three"):
                    sent = await client.post(url, json={"text": text}, headers=auth(parent))
                    assert sent.status_code == 201, sent.text
                listed = (await client.get("/conversations", headers=auth(teacher))).json()
                assert listed["items"][0]["unread"] == 3
                # A burst is told once.
                assert await Notification.find({"recipient_id": teacher.id}).count() == 1
                read = await client.post(f"/conversations/{cid}/read", headers=auth(teacher))
                assert read.status_code == 204
                reply = await client.post(url, json={"text": "Reply"}, headers=auth(teacher))
                assert reply.status_code == 201, reply.text
                page = (await client.get(url, headers=auth(parent), params={"limit": 2})).json()
                assert [m["text"] for m in page["items"]] == ["Reply", "Three"]
                assert page["items"][1]["read_at"] is not None
                assert page["next_cursor"] is not None
                rest = await client.get(
                    url, headers=auth(parent), params={"cursor": page["next_cursor"]}
                )
                assert [m["text"] for m in rest.json()["items"]] == ["Two", "Hi"]
                unassigned = await client.delete(
                    f"/schools/{school.id}/classes/{class_5a.id}/teachers/{teacher.id}",
                    headers=auth(admin),
                )
                assert unassigned.status_code == 204
                closed = await client.post(url, json={"text": "Hello?"}, headers=auth(parent))
                assert closed.status_code == 409
                assert (await client.get(url, headers=auth(parent))).status_code == 200
    finally:
        await app.state.mongo_client.drop_database(database)


async def test_batch_grading_gradebook_withdrawal_and_alert_on_real_mongodb(
    tmp_path: Path,
) -> None:
    database = f"schoolbell_test_{uuid.uuid4().hex[:12]}"
    settings = make_settings(tmp_path / "data", mongodb_url=MONGODB_URL, mongodb_db=database)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            school = School(name="Real", timezone="UTC")
            await school.insert()
            assert school.id is not None

            def person(role: Role, name: str) -> User:
                return User(
                    email=f"{name}@real.example.org",
                    full_name=name.title(),
                    role=role,
                    password_hash=default_password_hash(),
                    school_ids=[school.id] if role != Role.parent else [],
                )

            teacher, parent = person(Role.teacher, "teacher"), person(Role.parent, "parent")
            students = [person(Role.student, f"student {n}") for n in range(3)]
            for user in (teacher, parent, *students):
                await user.insert()
            assert teacher.id and parent.id and students[0].id
            school.classes.append(
                SchoolClass(
                    name="5A",
                    student_ids=[s.id for s in students if s.id],
                    teachers=[TeacherAssignment(teacher_id=teacher.id, subjects=["math"])],
                )
            )
            await school.save()
            class_id = school.classes[0].id
            await link_guardian(parent_id=parent.id, student_id=students[0].id)

            def auth(user: User) -> dict[str, str]:
                token, _ = create_access_token(
                    user_id=str(user.id), secret=settings.secret, minutes=15
                )
                return {"Authorization": f"Bearer {token}"}

            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test/api/v1"
            ) as client:
                alerts = f"/users/me/children/{students[0].id}/alerts"
                assert (
                    await client.put(alerts, json={"average_below": 3.5}, headers=auth(parent))
                ).status_code == 200
                for day, values in (("2025-09-01", [5, 4, 3]), ("2025-09-02", [2, 5, 4])):
                    response = await client.post(
                        "/grades/batch",
                        json={
                            "class_id": str(class_id),
                            "subject": "Math",
                            "date": day,
                            "grades": [
                                {"student_id": str(s.id), "value": v}
                                for s, v in zip(students, values, strict=True)
                            ],
                        },
                        headers=auth(teacher),
                    )
                    assert response.status_code == 201, response.text
                low = response.json()["items"][0]
                book = (
                    await client.get(
                        f"/schools/{school.id}/classes/{class_id}/gradebook?subject=math",
                        headers=auth(teacher),
                    )
                ).json()
                assert book["dates"] == ["2025-09-01", "2025-09-02"]
                first = next(s for s in book["students"] if s["student_id"] == str(students[0].id))
                assert [g["value"] for g in first["grades"]] == [5, 2]
                assert first["weighted_average"] == 3.5 and first["full_name"] == "Student 0"
                assert (await client.get(alerts, headers=auth(parent))).json()["holding"] == []

                await client.patch(f"/grades/{low['id']}", json={"value": 1}, headers=auth(teacher))
                fired = {"recipient_id": parent.id, "data.alert": "average_below"}
                assert await Notification.find(fired).count() == 1

                deleted = await client.delete(f"/grades/{low['id']}", headers=auth(teacher))
                assert deleted.status_code == 204
                unread = await client.get("/notifications/unread-count", headers=auth(parent))
                assert unread.json()["count"] == 2  # the first grade and the alert
                assert (await client.get(alerts, headers=auth(parent))).json()["holding"] == []
    finally:
        await app.state.mongo_client.drop_database(database)


async def test_events_on_real_mongodb(tmp_path: Path) -> None:
    async with real_app(tmp_path, "events.example.org") as real:
        client, auth, admin = real.client, real.auth, real.admin
        school, cls = real.school, real.cls
        teacher, student = await teacher_and_student(real)
        # Events: the capacity counter's conditional update, the waitlist order,
        # the totals aggregation and the indexed reminder claim on the real server.
        starts = utcnow() + timedelta(hours=30)
        event = await client.post(
            "/events",
            json={
                "school_id": school["id"],
                "title": "Meeting",
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=1)).isoformat(),
                "class_ids": [cls["id"]],
                "capacity": 1,
            },
            headers=auth(admin),
        )
        assert event.status_code == 201, event.text
        rsvp = f"/events/{event.json()['id']}/rsvp"
        first = await client.put(rsvp, json={"answer": "yes"}, headers=auth(student))
        assert first.json()["status"] == "confirmed"
        second = await client.put(rsvp, json={"answer": "yes"}, headers=auth(teacher))
        assert second.json()["status"] == "waitlisted"
        await client.put(rsvp, json={"answer": "no"}, headers=auth(student))
        listed = await client.get(f"/events/{event.json()['id']}/rsvps", headers=auth(admin))
        assert listed.json()["totals"] == {
            "yes": 1,
            "no": 1,
            "maybe": 0,
            "waitlisted": 0,
            "people": 1,
        }
        assert await notices.remind_due(now=starts - timedelta(hours=23)) == 1
        feed = (await client.get("/users/me/calendar", headers=auth(teacher))).json()
        ics = await client.get(feed["url"].removeprefix("http://testserver/api/v1"))
        assert b"SUMMARY:Meeting" in ics.content


async def test_homework_and_attendance_on_real_mongodb(tmp_path: Path) -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from app.schools.guardians import link_guardian
    from app.schools.models import School, SchoolClass, TeacherAssignment

    database = f"schoolbell_test_{uuid.uuid4().hex[:12]}"
    settings = make_settings(tmp_path / "data", mongodb_url=MONGODB_URL, mongodb_db=database)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            school = School(name="Real", timezone="Europe/Moscow")
            await school.insert()
            assert school.id is not None

            async def person(role: Role) -> User:
                user = User(
                    email=f"{role.value}@real.example.org",
                    full_name=role.value.title(),
                    role=role,
                    password_hash=default_password_hash(),
                    school_ids=[] if role == Role.parent else [school.id],
                )
                await user.insert()
                return user

            teacher, student, parent = (
                await person(Role.teacher),
                await person(Role.student),
                await person(Role.parent),
            )
            assert teacher.id and student.id and parent.id
            school_class = SchoolClass(
                name="5A",
                student_ids=[student.id],
                teachers=[TeacherAssignment(teacher_id=teacher.id, subjects=["math"])],
            )
            school.classes.append(school_class)
            await school.save()
            await link_guardian(parent_id=parent.id, student_id=student.id)
            today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()

            def auth(user: User) -> dict[str, str]:
                token, _ = create_access_token(
                    user_id=str(user.id), secret=settings.secret, minutes=15
                )
                return {"Authorization": f"Bearer {token}"}

            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test/api/v1"
            ) as client:
                for days in (2, 1):
                    set_ = await client.post(
                        "/homework",
                        json={
                            "class_id": str(school_class.id),
                            "subject": "Math",
                            "due": (today + dt.timedelta(days=days)).isoformat(),
                            "text": f"In {days} days",
                        },
                        headers=auth(teacher),
                    )
                    assert set_.status_code == 201, set_.text
                page = await client.get(
                    f"/students/{student.id}/homework", params={"limit": 1}, headers=auth(parent)
                )
                assert [h["text"] for h in page.json()["items"]] == ["In 1 days"]
                rest = await client.get(
                    f"/students/{student.id}/homework",
                    params={"limit": 1, "cursor": page.json()["next_cursor"]},
                    headers=auth(parent),
                )
                assert [h["text"] for h in rest.json()["items"]] == ["In 2 days"]

                register = (
                    f"/schools/{school.id}/classes/{school_class.id}/attendance/{today.isoformat()}"
                )
                marks = {
                    "period": 1,
                    "marks": [{"student_id": str(student.id), "status": "absent"}],
                }
                for _ in range(2):  # the same register twice tells once
                    marked = await client.put(register, json=marks, headers=auth(teacher))
                    assert marked.status_code == 200, marked.text
                corrected = await client.put(
                    register, json={"period": 1, "marks": []}, headers=auth(teacher)
                )
                assert corrected.json()["changed"] == 1
                topics = [
                    n.event_key
                    for n in await Notification.find(
                        {"recipient_id": parent.id, "topic": "attendance"}
                    ).to_list()
                ]
                assert sorted(k.split(":")[0] for k in topics) == ["absence", "absence-corrected"]
                late = {"period": 2, "marks": [{"student_id": str(student.id), "status": "late"}]}
                await client.put(register, json=late, headers=auth(teacher))
                record = await client.get(
                    f"/students/{student.id}/attendance", headers=auth(parent)
                )
                assert record.json()["totals"] == {"absent": 0, "late": 1, "excused": 0}
    finally:
        await app.state.mongo_client.drop_database(database)
