"""The main flows against a real MongoDB, when MONGODB_URL names one: schools, rosters,
grades, summaries, announcements and their acknowledgements here, and each producer's main
flows in tests/real_mongodb/ (one file per part of the product).

Everything else runs on mongomock, which accepts some things MongoDB refuses and the
other way round; these check the queries, updates, indexes and aggregations on the real
server. They run only with MONGODB_URL set (e.g. the compose file's MongoDB).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.auth.models import User
from app.notifications.models import Notification
from tests.real_mongodb.opening import (
    REAL_MONGODB_ONLY,
    real_app,
    teacher_and_student,
)

pytestmark = REAL_MONGODB_ONLY


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
