"""The main flows against a real MongoDB, when MONGODB_URL names one.

Everything else runs on mongomock, which accepts some things MongoDB refuses and the
other way round; this checks the queries, updates, indexes and aggregations on the
real server. It runs only with MONGODB_URL set (e.g. the compose file's MongoDB).
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from app.auth.models import Role, User
from app.core.security import create_access_token, utcnow
from app.events import notices
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
                listed = await client.get(
                    f"/events/{event.json()['id']}/rsvps", headers=auth(admin)
                )
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
    finally:
        await app.state.mongo_client.drop_database(database)
