"""Events: capacity, the waitlist, totals, reminders and the calendar feed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from app.core.security import utcnow
from app.events import notices
from tests.real_mongodb.opening import (
    REAL_MONGODB_ONLY,
    real_app,
    teacher_and_student,
)

pytestmark = REAL_MONGODB_ONLY


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
