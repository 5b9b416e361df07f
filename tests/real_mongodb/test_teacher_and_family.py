"""Teacher and family: messages, batch grading, the gradebook, withdrawals and alerts."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from app.auth.models import Role, User
from app.core.security import create_access_token
from app.main import create_app
from app.notifications.models import Notification
from app.schools.guardians import link_guardian
from app.schools.models import GuardianLink, School, SchoolClass, TeacherAssignment
from tests.conftest import default_password_hash, make_settings
from tests.real_mongodb.opening import (
    MONGODB_URL,
    REAL_MONGODB_ONLY,
    bearer,
)

pytestmark = REAL_MONGODB_ONLY


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
