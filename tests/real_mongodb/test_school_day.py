"""The school day: the timetable with its changes, homework and attendance."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from app.auth.models import Role, User
from app.core.security import create_access_token
from app.main import create_app
from app.notifications.models import Notification
from app.schools.guardians import link_guardian
from app.schools.models import School, SchoolClass, TeacherAssignment
from tests.conftest import default_password_hash, make_settings
from tests.real_mongodb.opening import (
    MONGODB_URL,
    REAL_MONGODB_ONLY,
    bearer,
)

pytestmark = REAL_MONGODB_ONLY


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


async def test_homework_and_attendance_on_real_mongodb(tmp_path: Path) -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

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
