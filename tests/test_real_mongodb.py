"""The main flows against a real MongoDB, when MONGODB_URL names one.

Everything else runs on mongomock, which accepts some things MongoDB refuses and the
other way round; this checks the queries, updates, indexes and aggregations on the
real server. It runs only with MONGODB_URL set (e.g. the compose file's MongoDB).
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.auth.models import Role, User
from app.core.security import create_access_token
from app.main import create_app
from app.notifications.models import Notification
from app.schools.models import School, SchoolClass, TeacherAssignment
from tests.conftest import default_password_hash, make_settings

MONGODB_URL = os.environ.get("MONGODB_URL")

pytestmark = pytest.mark.skipif(
    not MONGODB_URL, reason="MONGODB_URL is not set: no real MongoDB to run against"
)


async def test_school_roster_grades_summary_and_announcement_on_real_mongodb(
    tmp_path: Path,
) -> None:
    database = f"schoolbell_test_{uuid.uuid4().hex[:12]}"
    settings = make_settings(tmp_path / "data", mongodb_url=MONGODB_URL, mongodb_db=database)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            admin = User(
                email="admin@real.example.org",
                full_name="Admin",
                role=Role.admin,
                password_hash=default_password_hash(),
            )
            await admin.insert()

            def auth(user: User) -> dict[str, str]:
                token, _ = create_access_token(
                    user_id=str(user.id), secret=settings.secret, minutes=15
                )
                return {"Authorization": f"Bearer {token}"}

            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test/api/v1"
            ) as client:
                school = (
                    await client.post("/schools", json={"name": "Real"}, headers=auth(admin))
                ).json()
                reloaded = await User.get(admin.id)  # now administers the school
                assert reloaded is not None
                admin = reloaded
                cls = (
                    await client.post(
                        f"/schools/{school['id']}/classes", json={"name": "5A"}, headers=auth(admin)
                    )
                ).json()
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
                    await client.get(
                        f"/students/{student.id}/grades/summary", headers=auth(student)
                    )
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
                token, _ = create_access_token(
                    user_id=str(user.id), secret=settings.secret, minutes=15
                )
                return {"Authorization": f"Bearer {token}"}

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
