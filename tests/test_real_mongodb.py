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
