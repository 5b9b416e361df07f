"""A family and the school's figures: a parent joins with a guardian code, follows the
child and takes grades as a daily digest; a replayed announcement; a renamed class; the
admin's /stats, people and an announcement's emails, on the real server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from app.announcements.models import Announcement
from app.auth.models import Role, User
from app.core.security import utcnow
from app.delivery.models import Email, EmailKind
from app.notifications import digests
from tests.conftest import default_password_hash
from tests.real_mongodb.opening import REAL_MONGODB_ONLY, real_app, teacher_and_student

pytestmark = REAL_MONGODB_ONLY


async def test_a_family_digest_replay_rename_and_figures_on_real_mongodb(tmp_path: Path) -> None:
    async with real_app(tmp_path, "family.example.org") as real:
        client, auth, admin, school, cls = (
            real.client,
            real.auth,
            real.admin,
            real.school,
            real.cls,
        )
        teacher, student = await teacher_and_student(real)
        parent = User(
            email="parent@family.example.org",
            full_name="Parent Real",
            role=Role.parent,
            password_hash=default_password_hash(),
            email_verified=True,
        )
        await parent.insert()

        # Children: a guardian code redeemed, the child listed.
        issued = await client.post(f"/students/{student.id}/guardian-codes", headers=auth(admin))
        assert issued.status_code == 201, issued.text
        linked = await client.post(
            "/users/me/children", json={"code": issued.json()["code"]}, headers=auth(parent)
        )
        assert linked.status_code == 201, linked.text
        children = (await client.get("/users/me/children", headers=auth(parent))).json()
        assert [child["id"] for child in children["items"]] == [str(student.id)]

        # Digests: grades of the followed child wait for the daily digest.
        followed = await client.post(
            "/subscriptions",
            json={"target_type": "student", "target_id": str(student.id)},
            headers=auth(parent),
        )
        assert followed.status_code == 200, followed.text  # linking already followed
        chosen = await client.patch(
            "/users/me/preferences", json={"email": {"grades": "daily"}}, headers=auth(parent)
        )
        assert chosen.status_code == 200, chosen.text
        graded = await client.post(
            "/grades",
            json={
                "student_id": str(student.id),
                "class_id": cls["id"],
                "subject": "math",
                "value": 5,
            },
            headers=auth(teacher),
        )
        assert graded.status_code == 201, graded.text
        assert await digests.scan(now=utcnow() + timedelta(days=2)) >= 1
        [digest] = await Email.find({"recipient_id": parent.id}).to_list()
        assert digest.kind == EmailKind.digest

        # An announcement replayed with its Idempotency-Key is the same announcement.
        body = {"school_id": school["id"], "title": "Trip", "body": "On Friday"}
        replayed = [
            await client.post(
                "/announcements", json=body, headers={**auth(admin), "Idempotency-Key": "trip-1"}
            )
            for _ in range(2)
        ]
        assert [r.status_code for r in replayed] == [202, 202], replayed[0].text
        assert replayed[0].json()["id"] == replayed[1].json()["id"]
        assert await Announcement.find({"title": "Trip"}).count() == 1
        emails = await client.get(
            f"/announcements/{replayed[0].json()['id']}/emails", headers=auth(admin)
        )
        assert emails.status_code == 200, emails.text

        # A class renamed keeps its roster; a second class may not take its old name twice.
        base = f"/schools/{school['id']}/classes/{cls['id']}"
        renamed = await client.patch(base, json={"name": "5A-bis"}, headers=auth(admin))
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["student_ids"] == [str(student.id)]
        children = (await client.get("/users/me/children", headers=auth(parent))).json()
        assert [c["class_name"] for c in children["items"][0]["classes"]] == ["5A-bis"]
        other = await client.post(
            f"/schools/{school['id']}/classes", json={"name": "5B"}, headers=auth(admin)
        )
        assert other.status_code == 201, other.text
        taken = await client.patch(
            f"/schools/{school['id']}/classes/{other.json()['id']}",
            json={"name": "5A-bis"},
            headers=auth(admin),
        )
        assert taken.status_code == 409, taken.text

        # The admin's figures and people: the parent counts through the child.
        stats = (await client.get("/stats", headers=auth(admin))).json()
        assert stats["active_subscribers"] == 1
        assert stats["users_by_role"]["parent"] == 1
        people = (await client.get("/users", params={"limit": 2}, headers=auth(admin))).json()
        listed = [row["id"] for row in people["items"]]
        while people["next_cursor"]:
            people = (
                await client.get(
                    "/users",
                    params={"limit": 2, "cursor": people["next_cursor"]},
                    headers=auth(admin),
                )
            ).json()
            listed += [row["id"] for row in people["items"]]
        assert sorted(listed) == sorted(str(u.id) for u in (admin, teacher, student, parent))
