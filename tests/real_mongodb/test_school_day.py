"""The school day: the timetable with its changes, homework and attendance."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from app.notifications.models import Notification
from tests.real_mongodb.opening import (
    REAL_MONGODB_ONLY,
    parent_of,
    real_app,
    teacher_and_student,
)

pytestmark = REAL_MONGODB_ONLY


async def test_timetable_week_change_and_views_on_real_mongodb(tmp_path: Path) -> None:
    async with real_app(tmp_path, "timetable.example.org", timezone="Europe/Moscow") as real:
        client, auth, admin = real.client, real.auth, real.admin
        teacher, student = await teacher_and_student(real)
        base = f"/schools/{real.school['id']}/classes/{real.cls['id']}/timetable"
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
            put = await client.put(base, json={"lessons": lessons}, headers=auth(admin))
            assert put.status_code == 200, put.text
        today = datetime.now(ZoneInfo("Europe/Moscow")).date()
        change = await client.post(
            f"{base}/changes",
            json={"date": today.isoformat(), "period": 1, "kind": "room", "room": "Gym"},
            headers=auth(admin),
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


async def test_homework_and_attendance_on_real_mongodb(tmp_path: Path) -> None:
    async with real_app(tmp_path, "real.example.org", timezone="Europe/Moscow") as real:
        client, auth = real.client, real.auth
        teacher, student = await teacher_and_student(real)
        parent = await parent_of(real, student)
        today = datetime.now(ZoneInfo("Europe/Moscow")).date()
        for days in (2, 1):
            set_ = await client.post(
                "/homework",
                json={
                    "class_id": real.cls["id"],
                    "subject": "Math",
                    "due": (today + timedelta(days=days)).isoformat(),
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
            f"/schools/{real.school['id']}/classes/{real.cls['id']}/attendance/{today.isoformat()}"
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
        record = await client.get(f"/students/{student.id}/attendance", headers=auth(parent))
        assert record.json()["totals"] == {"absent": 0, "late": 1, "excused": 0}
