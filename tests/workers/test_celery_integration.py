"""A real Celery worker, consuming from a real Redis, fans an announcement out to 2,500 people.

The in-memory database lives in this process, so the worker runs here too, in a thread
(celery.contrib.testing.worker.start_worker); everything between the API and the task
body — the broker, serialisation, queues, acks — is the production path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from beanie import PydanticObjectId
from celery.contrib.testing.worker import start_worker
from mongomock_motor import AsyncMongoMockClient

from app.announcements.models import Announcement, AnnouncementStatus
from app.auth.models import Role, User
from app.core.jobs import CeleryDispatcher
from app.main import create_app
from app.notifications.models import Notification, NotificationSettings, Subscription, TargetType
from app.notifications.preferences import Preferences
from app.schools.models import GuardianLink, School, SchoolClass, TeacherAssignment
from tests.conftest import default_password_hash, make_settings
from workers import runtime
from workers.celery_app import QUEUES, create_celery

STUDENTS = 2_300
TEACHERS = 50
SUBSCRIBED_PARENTS = 150
RECIPIENTS = STUDENTS + TEACHERS + SUBSCRIBED_PARENTS
FANOUT_TIMEOUT_SECONDS = 300


# In-app only: the outbox has its own tests, and 2,500 emails would only slow this one.
IN_APP_ONLY = Preferences.model_validate({"email": {"announcements": "off"}})


def _people(role: Role, count: int, school_ids: list[PydanticObjectId]) -> list[dict]:
    return [
        User(
            email=f"{role.value}{n}@bulk.example.org",
            full_name=f"{role.value.title()} {n}",
            role=role,
            password_hash=default_password_hash(),
            school_ids=school_ids,
        ).model_dump(by_alias=True, exclude={"id"})
        for n in range(count)
    ]


async def _insert(documents: list[dict]) -> list[PydanticObjectId]:
    """The users, each with in-app-only preferences."""
    result = await User.get_motor_collection().insert_many(documents)
    ids = [PydanticObjectId(i) for i in result.inserted_ids]
    await NotificationSettings.insert_many(
        [NotificationSettings(id=i, preferences=IN_APP_ONLY) for i in ids]
    )
    return ids


@pytest.fixture
async def celery_stack(tmp_path: Path, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(tmp_path / "data", redis_url=redis_url)
    celery_app = create_celery(settings)
    celery_app.control.purge()
    app = create_app(
        settings,
        mongo_client=AsyncMongoMockClient(tz_aware=True),
        dispatcher=CeleryDispatcher(celery_app),
    )
    async with app.router.lifespan_context(app):
        runtime.mark_database_ready()
        with start_worker(celery_app, pool="solo", perform_ping_check=False, queues=list(QUEUES)):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test/api/v1"
            ) as client:
                yield client


async def test_announcement_reaches_2500_inboxes_exactly_once_through_redis_and_celery(
    celery_stack: httpx.AsyncClient, login_as
) -> None:
    school = School(name="Big school")
    await school.insert()
    assert school.id is not None
    admin_id = (await _insert(_people(Role.admin, 1, [school.id])))[0]
    students = await _insert(_people(Role.student, STUDENTS, [school.id]))
    teachers = await _insert(_people(Role.teacher, TEACHERS, [school.id]))
    parents = await _insert(_people(Role.parent, SUBSCRIBED_PARENTS, []))
    half = STUDENTS // 2
    school.classes = [
        SchoolClass(
            name="5A",
            student_ids=students[:half],
            teachers=[TeacherAssignment(teacher_id=teachers[0], subjects=["math"])],
        ),
        SchoolClass(name="6B", student_ids=students[half:]),
    ]
    await school.save()
    # Each parent is linked to a child of the school (the first 20 to children in 5A), as
    # redeeming a guardian code leaves them: a subscription rests on a linked child.
    await GuardianLink.get_motor_collection().insert_many(
        [
            GuardianLink(parent_id=parent, student_id=child).model_dump(
                by_alias=True, exclude={"id"}
            )
            for parent, child in zip(parents, students, strict=False)
        ]
    )
    # Parents follow the school and, for some, also a class: still one notification each.
    await Subscription.get_motor_collection().insert_many(
        [
            Subscription(
                subscriber_id=parent,
                subscriber_role=Role.parent,
                target_type=TargetType.school,
                target_id=school.id,
                school_id=school.id,
            ).model_dump(by_alias=True, exclude={"id"})
            for parent in parents
        ]
        + [
            Subscription(
                subscriber_id=parent,
                subscriber_role=Role.parent,
                target_type=TargetType.class_,
                target_id=school.classes[0].id,
                school_id=school.id,
            ).model_dump(by_alias=True, exclude={"id"})
            for parent in parents[:20]
        ]
    )
    admin = await User.get(admin_id)
    assert admin is not None

    response = await celery_stack.post(
        "/announcements",
        json={"school_id": str(school.id), "title": "School closed", "body": "Snow day."},
        headers=login_as(admin),
    )
    assert response.status_code == 202, response.text
    announcement_id = PydanticObjectId(response.json()["id"])

    deadline = time.monotonic() + FANOUT_TIMEOUT_SECONDS
    while True:
        announcement = await Announcement.get(announcement_id)
        assert announcement is not None
        if announcement.status == AnnouncementStatus.published:
            break
        assert time.monotonic() < deadline, "the worker did not publish the announcement"
        await asyncio.sleep(0.5)

    event = {"event_key": f"announcement:{announcement_id}"}
    assert await Notification.find(event).count() == RECIPIENTS
    recipients = await Notification.get_motor_collection().distinct("recipient_id", event)
    assert sorted(recipients) == sorted([*students, *teachers, *parents])
    assert admin_id not in recipients
    assert announcement.recipients == RECIPIENTS

    for person_id in (students[0], students[-1], teachers[0], parents[0]):
        person = await User.get(person_id)
        assert person is not None
        inbox = await celery_stack.get("/notifications", headers=login_as(person))
        titles = [item["title"] for item in inbox.json()["items"]]
        assert titles == ["School closed"]
