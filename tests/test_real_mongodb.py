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
from app.core.config import Settings
from app.core.security import create_access_token
from app.main import create_app
from app.notifications.models import Notification
from app.schools.models import GuardianLink, School, SchoolClass, TeacherAssignment
from tests.conftest import default_password_hash, make_settings

MONGODB_URL = os.environ.get("MONGODB_URL")

pytestmark = pytest.mark.skipif(
    not MONGODB_URL, reason="MONGODB_URL is not set: no real MongoDB to run against"
)


def bearer(settings: Settings, user: User) -> dict[str, str]:
    token, _ = create_access_token(user_id=str(user.id), secret=settings.secret, minutes=15)
    return {"Authorization": f"Bearer {token}"}


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
                return bearer(settings, user)

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
