"""The main flows against a real MongoDB, when MONGODB_URL names one.

Everything else runs on mongomock, which accepts some things MongoDB refuses and the
other way round; this checks the queries, updates, indexes and aggregations on the
real server. It runs only with MONGODB_URL set (e.g. the compose file's MongoDB).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import pytest

from app.auth.models import Role, User
from app.core.security import create_access_token
from app.main import create_app
from app.notifications.models import Notification
from app.schools.guardians import link_guardian
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
