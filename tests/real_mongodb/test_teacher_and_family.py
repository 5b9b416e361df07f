"""Teacher and family: messages, batch grading, the gradebook, withdrawals and alerts."""

from __future__ import annotations

from pathlib import Path

from app.notifications.models import Notification
from tests.real_mongodb.opening import (
    REAL_MONGODB_ONLY,
    member,
    parent_of,
    real_app,
    seat,
    teacher_and_student,
)

pytestmark = REAL_MONGODB_ONLY


async def test_a_parent_and_the_teacher_write_read_and_a_relation_ends_on_real_mongodb(
    tmp_path: Path,
) -> None:
    async with real_app(tmp_path, "real.example.org") as real:
        client, auth, admin = real.client, real.auth, real.admin
        teacher, student = await teacher_and_student(real)
        parent = await parent_of(real, student)
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
        rest = await client.get(url, headers=auth(parent), params={"cursor": page["next_cursor"]})
        assert [m["text"] for m in rest.json()["items"]] == ["Two", "Hi"]
        unassigned = await client.delete(
            f"/schools/{real.school['id']}/classes/{real.cls['id']}/teachers/{teacher.id}",
            headers=auth(admin),
        )
        assert unassigned.status_code == 204
        closed = await client.post(url, json={"text": "Hello?"}, headers=auth(parent))
        assert closed.status_code == 409
        assert (await client.get(url, headers=auth(parent))).status_code == 200


async def test_batch_grading_gradebook_withdrawal_and_alert_on_real_mongodb(
    tmp_path: Path,
) -> None:
    async with real_app(tmp_path, "real.example.org") as real:
        client, auth = real.client, real.auth
        teacher = await member(real, "teacher", "teacher")
        students = [await member(real, "student", f"student {n}") for n in range(3)]
        for user in (teacher, *students):
            await seat(real, user)
        parent = await parent_of(real, students[0])
        class_id = real.cls["id"]
        alerts = f"/users/me/children/{students[0].id}/alerts"
        assert (
            await client.put(alerts, json={"average_below": 3.5}, headers=auth(parent))
        ).status_code == 200
        for day, values in (("2025-09-01", [5, 4, 3]), ("2025-09-02", [2, 5, 4])):
            response = await client.post(
                "/grades/batch",
                json={
                    "class_id": class_id,
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
                f"/schools/{real.school['id']}/classes/{class_id}/gradebook?subject=math",
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
