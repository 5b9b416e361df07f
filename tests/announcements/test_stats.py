"""GET /stats: figures over the admin's own schools."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from app.auth.models import Role
from app.core.security import utcnow
from tests.announcements.helpers import Login, announce
from tests.conftest import UserFactory
from tests.notifications.helpers import Campus, put_notification


@pytest.mark.parametrize("caller", ["t5a", "s5a", "p_child"])
async def test_stats_are_for_admins_only(
    client: httpx.AsyncClient, campus: Campus, login_as: Login, caller: str
) -> None:
    response = await client.get("/stats", headers=login_as(campus.people[caller]))
    assert response.status_code == 403


async def test_stats_need_a_login(client: httpx.AsyncClient) -> None:
    assert (await client.get("/stats")).status_code == 401


async def test_stats_count_only_the_admins_schools(
    client: httpx.AsyncClient, campus: Campus, login_as: Login, make_user: UserFactory
) -> None:
    school_id = campus.school.id
    # A soft-deleted student is not counted.
    await make_user(Role.student, school_ids=[school_id], deleted_at=utcnow())
    # Traffic: one whole-school announcement, a read, an old notification, another school.
    admin = login_as(campus.people["admin"])
    posted = await announce(client, admin, campus, roles=["student"])
    assert posted.status_code == 202
    reader = login_as(campus.people["s5a"])
    (item,) = (await client.get("/notifications", headers=reader)).json()["items"]
    await client.post(f"/notifications/{item['id']}/read", headers=reader)
    await put_notification(campus.people["s5a"], key="grade:1", topic="grades", school_id=school_id)
    await put_notification(
        campus.people["s5a"],
        key="grade:old",
        topic="grades",
        school_id=school_id,
        created_at=utcnow() - timedelta(hours=25),
    )
    await put_notification(campus.people["so"], key="elsewhere", school_id=campus.other_school.id)

    response = await client.get("/stats", headers=admin)
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["school_ids"] == [str(school_id)]
    # The campus school: admin; teachers t5a, t6b, t_none; students s5a, s5a2, s6b; and the
    # parents linked to those students (all but p_foreign).
    assert stats["users_by_role"] == {"admin": 1, "teacher": 3, "student": 3, "parent": 9}
    # Parents following something in the school: p_child, p_other_child, p_school,
    # p_class5a, p_class6b, p_all, p_grades_only, p_ann_only.
    assert stats["active_subscribers"] == 8
    # The announcement reached the three students; one read; plus the recent grade.
    assert stats["notifications_last_24h"] == {
        "total": 4,
        "read": 1,
        "unread": 3,
        "by_topic": {"announcements": 3, "grades": 1},
    }
    # The three students keep the default immediate email (sent inline in tests).
    assert stats["emails_last_24h"] == {
        "pending": 0,
        "sending": 0,
        "sent": 3,
        "failed": 0,
        "dead": 0,
    }


async def test_another_schools_admin_sees_only_their_school(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    await announce(client, login_as(campus.people["admin"]), campus)
    response = await client.get("/stats", headers=login_as(campus.people["ao"]))
    assert response.status_code == 200
    stats = response.json()
    assert stats["school_ids"] == [str(campus.other_school.id)]
    assert stats["users_by_role"] == {"admin": 1, "teacher": 1, "student": 1, "parent": 1}
    assert stats["active_subscribers"] == 1  # p_foreign
    assert stats["notifications_last_24h"]["total"] == 0


async def test_soft_deleted_subscribers_are_not_active(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    admin = login_as(campus.people["admin"])
    before = (await client.get("/stats", headers=admin)).json()
    await campus.people["p_school"].set({"deleted_at": utcnow()})
    after = (await client.get("/stats", headers=admin)).json()
    assert after["active_subscribers"] == before["active_subscribers"] - 1
    assert after["users_by_role"]["parent"] == before["users_by_role"]["parent"] - 1


async def test_an_admin_of_no_school_sees_zeros(
    client: httpx.AsyncClient, campus: Campus, login_as: Login, make_user: UserFactory
) -> None:
    await announce(client, login_as(campus.people["admin"]), campus)
    lonely = await make_user(Role.admin)
    stats = (await client.get("/stats", headers=login_as(lonely))).json()
    assert stats["school_ids"] == []
    assert stats["active_subscribers"] == 0
    assert set(stats["users_by_role"].values()) == {0}
    assert stats["notifications_last_24h"]["total"] == 0
