"""Scheduled announcements, cancelling, reading one back with its figures, listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from bson import ObjectId

from app.announcements import service
from app.announcements.models import Announcement, AnnouncementStatus
from app.auth.models import User
from app.notifications import service as notifications
from app.notifications.models import Notification
from app.notifications.preferences import Preferences
from tests.announcements.helpers import Login, announce, inbox_ids
from tests.notifications.helpers import Campus


async def choose(user: User, preferences: dict[str, Any]) -> None:
    """Set a member's preferences as the preference routes do."""
    await notifications.replace_preferences(
        user=user, preferences=Preferences.model_validate(preferences)
    )


def _later(**delta: float) -> datetime:
    return (datetime.now(UTC) + timedelta(**delta)).replace(microsecond=0)


async def _scheduled(
    client: httpx.AsyncClient, campus: Campus, login_as: Login, author: str = "admin", **fields: Any
) -> tuple[str, datetime]:
    publish_at = _later(hours=2)
    response = await announce(
        client,
        login_as(campus.people[author]),
        campus,
        publish_at=publish_at.isoformat(),
        **fields,
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "scheduled"
    return response.json()["id"], publish_at


async def test_a_scheduled_announcement_goes_out_once_at_its_time(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    announcement_id, publish_at = await _scheduled(client, campus, login_as)
    student = login_as(campus.people["s5a"])
    assert await inbox_ids(client, student) == []
    assert await Notification.find_all().count() == 0

    # Beat runs a minute early: still nothing.
    assert await service.publish_due(now=publish_at - timedelta(minutes=1)) == 0
    assert await inbox_ids(client, student) == []

    assert await service.publish_due(now=publish_at + timedelta(minutes=1)) == 1
    stored = await Announcement.get(announcement_id)
    assert stored is not None and stored.status == AnnouncementStatus.published
    assert await inbox_ids(client, student) == [announcement_id]
    total = await Notification.find_all().count()
    assert total == stored.recipients > 0

    # The next beat, and one much later, find nothing to do and send nothing again.
    assert await service.publish_due(now=publish_at + timedelta(minutes=2)) == 0
    assert await service.publish_due(now=publish_at + timedelta(days=1)) == 0
    assert await Notification.find_all().count() == total
    assert await inbox_ids(client, student) == [announcement_id]


async def test_publish_at_in_the_past_publishes_now(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    response = await announce(
        client,
        login_as(campus.people["admin"]),
        campus,
        publish_at=_later(hours=-1).isoformat(),
    )
    assert response.status_code == 202
    assert response.json()["status"] in ("publishing", "published")
    assert await inbox_ids(client, login_as(campus.people["s5a"])) == [response.json()["id"]]


async def test_publish_at_in_another_time_zone_is_the_same_moment(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    moment = _later(hours=3)
    in_moscow = moment.astimezone(ZoneInfo("Europe/Moscow"))
    response = await announce(
        client, login_as(campus.people["admin"]), campus, publish_at=in_moscow.isoformat()
    )
    assert response.json()["status"] == "scheduled"
    stored = await Announcement.get(response.json()["id"])
    assert stored is not None and stored.publish_at == moment
    assert await service.publish_due(now=moment - timedelta(seconds=1)) == 0
    assert await service.publish_due(now=moment) == 1


async def test_a_fan_out_stalled_in_publishing_is_sent_again(campus: Campus) -> None:
    # Its worker died after claiming it: status publishing, nobody notified yet.
    claimed_at = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    announcement = Announcement(
        school_id=campus.school.id,
        author_id=campus.id("admin"),
        title="Lost",
        body="and found",
        publish_at=claimed_at,
        status=AnnouncementStatus.publishing,
        publishing_since=claimed_at,
    )
    await announcement.insert()
    assert await service.publish_due(now=claimed_at + timedelta(minutes=5)) == 0
    assert await Notification.find_all().count() == 0
    assert await service.publish_due(now=claimed_at + timedelta(minutes=11)) == 1
    assert await Notification.find({"event_key": announcement.event_key}).count() > 0
    stored = await Announcement.get(announcement.id)
    assert stored is not None and stored.status == AnnouncementStatus.published


async def test_cancelling_a_scheduled_announcement(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    announcement_id, publish_at = await _scheduled(client, campus, login_as)
    headers = login_as(campus.people["admin"])
    response = await client.delete(f"/announcements/{announcement_id}", headers=headers)
    assert response.status_code == 204
    read = await client.get(f"/announcements/{announcement_id}", headers=headers)
    assert read.json()["status"] == "cancelled"
    assert await service.publish_due(now=publish_at + timedelta(minutes=1)) == 0
    assert await Notification.find_all().count() == 0
    # Cancelled is final: cancelling again is a conflict.
    again = await client.delete(f"/announcements/{announcement_id}", headers=headers)
    assert again.status_code == 409


async def test_a_published_announcement_cannot_be_cancelled(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    headers = login_as(campus.people["admin"])
    announcement_id = (await announce(client, headers, campus)).json()["id"]
    response = await client.delete(f"/announcements/{announcement_id}", headers=headers)
    assert response.status_code == 409
    stored = await Announcement.get(announcement_id)
    assert stored is not None and stored.status == AnnouncementStatus.published


@pytest.mark.parametrize(
    ("caller", "expected"),
    [("t5a", 204), ("admin", 204), ("t6b", 403), ("s5a", 403), ("p_child", 403), ("ao", 403)],
)
async def test_who_may_cancel_a_teachers_announcement(
    client: httpx.AsyncClient, campus: Campus, login_as: Login, caller: str, expected: int
) -> None:
    announcement_id, _ = await _scheduled(
        client, campus, login_as, author="t5a", class_ids=[str(campus.class_5a.id)]
    )
    response = await client.delete(
        f"/announcements/{announcement_id}", headers=login_as(campus.people[caller])
    )
    assert response.status_code == expected
    stored = await Announcement.get(announcement_id)
    assert stored is not None
    assert stored.status == ("cancelled" if expected == 204 else "scheduled")


@pytest.mark.parametrize("announcement_id", ["nope", str(ObjectId())])
@pytest.mark.parametrize("method", ["get", "delete"])
async def test_unknown_or_malformed_announcement_is_404(
    client: httpx.AsyncClient, campus: Campus, login_as: Login, announcement_id: str, method: str
) -> None:
    response = await client.request(
        method, f"/announcements/{announcement_id}", headers=login_as(campus.people["admin"])
    )
    assert response.status_code == 404


async def test_figures_count_recipients_inbox_and_reads(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    # One recipient keeps only the email for announcements: a recipient, not in-app.
    hidden = campus.people["s5a2"]
    await choose(hidden, {"in_app": {"announcements": False}})
    headers = login_as(campus.people["t5a"])
    response = await announce(client, headers, campus, class_ids=[str(campus.class_5a.id)])
    announcement_id = response.json()["id"]
    # Class 5A without its teacher: s5a, s5a2 and five parents.
    expected_recipients = 7

    read = await client.get(f"/announcements/{announcement_id}", headers=headers)
    assert read.status_code == 200
    assert read.json()["stats"] == {
        "recipients": expected_recipients,
        "in_app": expected_recipients - 1,
        "read": 0,
        # Everyone keeps the default immediate email, sent inline in these tests.
        "email_sent": expected_recipients,
        "email_failed": 0,
        "email_pending": 0,
    }

    for name in ("s5a", "p_child"):
        reader = login_as(campus.people[name])
        (notification,) = (await client.get("/notifications", headers=reader)).json()["items"]
        await client.post(f"/notifications/{notification['id']}/read", headers=reader)
    # p_all reads everything; its one notification counts once.
    await client.post("/notifications/read-all", headers=login_as(campus.people["p_all"]))

    stats = (await client.get(f"/announcements/{announcement_id}", headers=headers)).json()["stats"]
    assert stats["read"] == 3
    assert stats["in_app"] == expected_recipients - 1
    admin_view = await client.get(
        f"/announcements/{announcement_id}", headers=login_as(campus.people["admin"])
    )
    assert admin_view.json()["stats"] == stats


@pytest.mark.parametrize("caller", ["t6b", "s5a", "p_child", "ao", "to"])
async def test_figures_are_for_the_author_and_school_admins(
    client: httpx.AsyncClient, campus: Campus, login_as: Login, caller: str
) -> None:
    response = await announce(
        client, login_as(campus.people["t5a"]), campus, class_ids=[str(campus.class_5a.id)]
    )
    read = await client.get(
        f"/announcements/{response.json()['id']}", headers=login_as(campus.people[caller])
    )
    assert read.status_code == 403


async def _listed(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> list[str]:
    response = await client.get("/announcements", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


async def test_lists_show_each_person_what_concerns_them(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    admin = login_as(campus.people["admin"])
    t5a = login_as(campus.people["t5a"])
    await announce(client, admin, campus, title="whole school")
    await announce(client, admin, campus, title="6B only", class_ids=[str(campus.class_6b.id)])
    await announce(client, t5a, campus, title="5A by teacher", class_ids=[str(campus.class_5a.id)])
    await announce(client, admin, campus, title="teachers only", roles=["teacher"])
    await announce(client, admin, campus, title="later", publish_at=_later(days=1).isoformat())
    await announce(
        client,
        login_as(campus.people["ao"]),
        campus,
        title="elsewhere",
        school_id=str(campus.other_school.id),
    )

    everything = ["later", "teachers only", "5A by teacher", "6B only", "whole school"]
    assert await _listed(client, admin) == everything
    assert await _listed(client, admin, school_id=str(campus.school.id)) == everything
    assert await _listed(client, admin, school_id=str(campus.other_school.id)) == []
    assert await _listed(client, login_as(campus.people["ao"])) == ["elsewhere"]
    assert await _listed(client, login_as(campus.people["s5a"])) == [
        "5A by teacher",
        "whole school",
    ]
    assert await _listed(client, login_as(campus.people["s6b"])) == ["6B only", "whole school"]
    assert await _listed(client, t5a) == ["teachers only", "5A by teacher", "whole school"]
    assert await _listed(client, login_as(campus.people["t6b"])) == [
        "teachers only",
        "6B only",
        "whole school",
    ]
    assert await _listed(client, login_as(campus.people["p_class5a"])) == [
        "5A by teacher",
        "whole school",
    ]
    assert await _listed(client, login_as(campus.people["p_unsub"])) == []
    assert await _listed(client, login_as(campus.people["so"])) == ["elsewhere"]


async def test_a_member_with_in_app_off_still_finds_what_was_addressed_to_them(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    student = campus.people["s5a"]
    await choose(student, {"in_app": {"announcements": False}})
    await announce(client, login_as(campus.people["admin"]), campus, title="whole school")

    assert (await client.get("/notifications", headers=login_as(student))).json()["items"] == []
    assert await _listed(client, login_as(student)) == ["whole school"]


async def test_list_pages_newest_first(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    admin = login_as(campus.people["admin"])
    for n in range(5):
        await announce(client, admin, campus, title=f"n{n}")
    seen: list[str] = []
    params: dict[str, str] = {"limit": "2"}
    while True:
        response = await client.get("/announcements", params=params, headers=admin)
        seen += [item["title"] for item in response.json()["items"]]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
        params["cursor"] = cursor
    assert seen == ["n4", "n3", "n2", "n1", "n0"]


async def test_list_with_bad_cursor_is_422(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    response = await client.get(
        "/announcements", params={"cursor": "???"}, headers=login_as(campus.people["admin"])
    )
    assert response.status_code == 422


async def test_recipients_count_only_people_reached(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    # A soft-deleted pupil stays on the roster; a parent turned both channels off.
    await campus.people["s5a2"].set({"deleted_at": datetime.now(UTC)})
    await choose(
        campus.people["p_child"],
        {"in_app": {"announcements": False}, "email": {"announcements": "off"}},
    )
    headers = login_as(campus.people["t5a"])
    response = await announce(client, headers, campus, class_ids=[str(campus.class_5a.id)])
    stats = (await client.get(f"/announcements/{response.json()['id']}", headers=headers)).json()
    # Class 5A without its teacher is seven people; two of them got nothing.
    assert stats["stats"]["recipients"] == 5
    assert stats["stats"]["in_app"] == 5


async def test_an_announcement_of_a_deleted_school_is_cancelled_not_retried(
    campus: Campus,
) -> None:
    publish_at = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    announcement = Announcement(
        school_id=campus.school.id,
        author_id=campus.id("admin"),
        title="Too late",
        body="The school closed",
        publish_at=publish_at,
        status=AnnouncementStatus.scheduled,
    )
    await announcement.insert()
    await campus.school.set({"deleted_at": publish_at})
    assert await service.publish_due(now=publish_at + timedelta(minutes=1)) == 1
    stored = await Announcement.get(announcement.id)
    assert stored is not None and stored.status == AnnouncementStatus.cancelled
    assert await Notification.find_all().count() == 0
    # The stalled-fan-out sweep has nothing to pick up later.
    assert await service.publish_due(now=publish_at + timedelta(hours=1)) == 0
