"""deliver(): what each recipient's preferences make of a notification, dedupe, batching."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from beanie import PydanticObjectId

from app.announcements import service as announcements_service
from app.announcements.models import Announcement, AnnouncementStatus
from app.auth.models import Role, User
from app.grades import notices as events
from app.grades.models import Grade
from app.notifications import fanout, service
from app.notifications.models import EmailDecision, Notification
from app.notifications.preferences import EmailFrequency, Preferences, Priority
from app.schools.models import GuardianLink
from tests.conftest import UserFactory, World
from tests.notifications.helpers import Campus, event, stored_for

A, G = "announcements", "grades"
LOW, NORMAL, HIGH, CRITICAL = Priority.low, Priority.normal, Priority.high, Priority.critical


@dataclass(frozen=True)
class Row:
    name: str
    preferences: dict[str, Any]
    topic: str
    priority: Priority
    # None: nothing stored at all; else (in_app, email decision, digest frequency).
    expected: tuple[bool, EmailDecision, EmailFrequency | None] | None


IMMEDIATE, DIGEST, NONE = EmailDecision.immediate, EmailDecision.digest, EmailDecision.none
DAILY, WEEKLY = EmailFrequency.daily, EmailFrequency.weekly

ROWS = [
    Row("defaults", {}, A, NORMAL, (True, IMMEDIATE, None)),
    Row("defaults, grade", {}, G, NORMAL, (True, IMMEDIATE, None)),
    Row("daily digest", {"email": {"announcements": "daily"}}, A, NORMAL, (True, DIGEST, DAILY)),
    Row("weekly digest", {"email": {"announcements": "weekly"}}, A, NORMAL, (True, DIGEST, WEEKLY)),
    Row("email off", {"email": {"announcements": "off"}}, A, NORMAL, (True, NONE, None)),
    # Frequencies are per topic: grades off says nothing about announcements.
    Row(
        "grades off, announcement", {"email": {"grades": "off"}}, A, NORMAL, (True, IMMEDIATE, None)
    ),
    Row("grades off, grade", {"email": {"grades": "off"}}, G, NORMAL, (True, NONE, None)),
    Row("grades weekly, grade", {"email": {"grades": "weekly"}}, G, NORMAL, (True, DIGEST, WEEKLY)),
    # In-app off but email wanted: stored for the email, hidden from the inbox.
    Row("in-app off", {"in_app": {"announcements": False}}, A, NORMAL, (False, IMMEDIATE, None)),
    Row(
        "in-app off, digest",
        {"in_app": {"grades": False}, "email": {"grades": "daily"}},
        G,
        NORMAL,
        (False, DIGEST, DAILY),
    ),
    Row(
        "in-app off, other topic", {"in_app": {"grades": False}}, A, NORMAL, (True, IMMEDIATE, None)
    ),
    # Neither: nothing to store.
    Row(
        "in-app and email off",
        {"in_app": {"announcements": False}, "email": {"announcements": "off"}},
        A,
        NORMAL,
        None,
    ),
    # Below the minimum priority: in-app only.
    Row("below min priority", {"min_priority": "high"}, A, NORMAL, (True, NONE, None)),
    Row("low below normal", {"min_priority": "normal"}, A, LOW, (True, NONE, None)),
    Row("at min priority", {"min_priority": "high"}, A, HIGH, (True, IMMEDIATE, None)),
    Row(
        "at min priority, daily",
        {"min_priority": "normal", "email": {"announcements": "daily"}},
        A,
        NORMAL,
        (True, DIGEST, DAILY),
    ),
    Row(
        "below min priority, in-app off",
        {"min_priority": "critical", "in_app": {"announcements": False}},
        A,
        HIGH,
        None,
    ),
    # Quiet hours only delay an immediate email; the decision stays immediate.
    Row(
        "quiet hours",
        {"quiet_hours": {"start": "00:00", "end": "23:59"}},
        A,
        NORMAL,
        (True, IMMEDIATE, None),
    ),
    # Critical ignores every switch.
    Row(
        "critical, everything off",
        {
            "in_app": {"announcements": False},
            "email": {"announcements": "off"},
            "min_priority": "critical",
        },
        A,
        CRITICAL,
        (True, IMMEDIATE, None),
    ),
    Row(
        "critical, weekly digest",
        {"email": {"announcements": "weekly"}},
        A,
        CRITICAL,
        (True, IMMEDIATE, None),
    ),
    Row(
        "critical, in-app off",
        {"in_app": {"announcements": False}},
        A,
        CRITICAL,
        (True, IMMEDIATE, None),
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
async def test_preferences_shape_the_notification(
    app: Any, make_user: UserFactory, row: Row
) -> None:
    preferences = Preferences.model_validate(row.preferences)
    user = await make_user(Role.parent, preferences=preferences)
    assert user.id is not None
    created = await fanout.deliver(event("e:1", topic=row.topic, priority=row.priority), [user.id])
    stored = await stored_for(user)
    if row.expected is None:
        assert created == 0
        assert stored == []
        return
    in_app, decision, frequency = row.expected
    assert created == 1
    assert len(stored) == 1
    notification = stored[0]
    assert notification.in_app is in_app
    assert notification.email_decision == decision
    assert notification.digest_frequency == frequency
    assert notification.topic == row.topic
    assert notification.priority == row.priority


async def test_notification_carries_the_event(app: Any, make_user: UserFactory) -> None:
    user = await make_user(Role.student)
    school_id = PydanticObjectId()
    assert user.id is not None
    base = event("e:carry", school_id=school_id)
    base.data = {**base.data, "announcement_id": str(PydanticObjectId())}
    await fanout.deliver(base, [user.id])
    (notification,) = await stored_for(user)
    assert notification.event_key == "e:carry"
    assert notification.school_id == school_id
    assert notification.title == base.title
    assert notification.body == base.body
    assert notification.data == base.data
    assert notification.read_at is None


async def test_deleted_users_and_the_actor_are_skipped(app: Any, make_user: UserFactory) -> None:
    live = await make_user(Role.student)
    gone = await make_user(Role.student, deleted_at=datetime(2024, 1, 1, tzinfo=UTC))
    actor = await make_user(Role.teacher)
    assert live.id and gone.id and actor.id
    created = await fanout.deliver(event(actor_id=actor.id), [live.id, gone.id, actor.id])
    assert created == 1
    assert len(await stored_for(live)) == 1
    assert await stored_for(gone) == []
    assert await stored_for(actor) == []


# --- dedupe ------------------------------------------------------------------------------


async def test_deliver_twice_creates_nothing_the_second_time(
    app: Any, make_user: UserFactory
) -> None:
    users = [await make_user(Role.student) for _ in range(4)]
    ids = [u.id for u in users if u.id is not None]
    assert await fanout.deliver(event("e:twice"), ids) == 4
    assert await fanout.deliver(event("e:twice"), ids) == 0
    assert await Notification.find({"event_key": "e:twice"}).count() == 4


async def test_a_repeated_fan_out_with_new_recipients_adds_only_them(
    app: Any, make_user: UserFactory
) -> None:
    users = [await make_user(Role.student) for _ in range(5)]
    ids = [u.id for u in users if u.id is not None]
    assert await fanout.deliver(event("e:partial"), ids[:3]) == 3
    # The unordered insert keeps going past the duplicates and writes the rest.
    assert await fanout.deliver(event("e:partial"), ids, batch_size=5) == 2
    assert await Notification.find({"event_key": "e:partial"}).count() == 5
    for user in users:
        assert len(await stored_for(user)) == 1


async def test_another_event_is_another_notification(app: Any, make_user: UserFactory) -> None:
    user = await make_user(Role.student)
    assert user.id is not None
    await fanout.deliver(event("e:one"), [user.id])
    await fanout.deliver(event("e:two"), [user.id])
    assert len(await stored_for(user)) == 2


async def test_announcement_fan_out_twice_notifies_nobody_twice(campus: Campus) -> None:
    announcement = Announcement(
        school_id=campus.school.id,
        author_id=campus.id("admin"),
        title="Trip",
        body="Friday",
        class_ids=[campus.class_5a.id],
        publish_at=datetime.now(UTC),
        status=AnnouncementStatus.publishing,
    )
    await announcement.insert()
    first = await announcements_service.fan_out(announcement_id=str(announcement.id))
    total = await Notification.find({"event_key": announcement.event_key}).count()
    assert first == total > 0
    second = await announcements_service.fan_out(announcement_id=str(announcement.id))
    assert second == 0
    assert await Notification.find({"event_key": announcement.event_key}).count() == total
    for name in ("s5a", "p_all", "p_child"):
        assert len(await stored_for(campus.people[name])) == 1
    stored = await Announcement.get(announcement.id)
    assert stored is not None
    assert stored.status == AnnouncementStatus.published
    assert stored.recipients == total


async def _grade(world: World, **fields: Any) -> Grade:
    grade = Grade(
        school_id=world.school.id,
        class_id=world.class_5a.id,
        student_id=world.student.id,
        teacher_id=world.teacher.id,
        subject="math",
        value=5,
        date=datetime(2025, 3, 3, tzinfo=UTC),
        **fields,
    )
    await grade.insert()
    return grade


async def test_grade_event_notifies_the_student_and_subscribed_parents_once(
    world: World, make_user: UserFactory
) -> None:
    assert world.parent.id and world.student.id
    await service.subscribe_guardian(parent_id=world.parent.id, student_id=world.student.id)
    bystander = await make_user(Role.parent)  # linked, not subscribed
    assert bystander.id
    await GuardianLink(parent_id=bystander.id, student_id=world.student.id).insert()
    grade = await _grade(world, comment="well done")
    key = events.grade_event_key(grade)
    assert await events.notify_grade(grade_id=str(grade.id), event_key=key) == 2
    assert await events.notify_grade(grade_id=str(grade.id), event_key=key) == 0

    (for_student,) = await stored_for(world.student)
    (for_parent,) = await stored_for(world.parent)
    assert await stored_for(bystander) == []
    assert await stored_for(world.teacher) == []
    for notification in (for_student, for_parent):
        assert notification.topic == "grades"
        assert notification.event_key == key
        assert notification.school_id == world.school.id
        assert notification.data["grade_id"] == str(grade.id)
        assert notification.data["value"] == 5
        assert "math" in notification.title


async def test_a_changed_grade_updates_its_notification_in_place(world: World) -> None:
    grade = await _grade(world)
    await events.notify_grade(grade_id=str(grade.id), event_key=events.grade_event_key(grade))
    (before,) = await stored_for(world.student)
    grade.value = 4
    grade.updated_at = datetime(2030, 1, 1, tzinfo=UTC)
    await grade.save()
    changed_key = events.grade_event_key(grade)
    created = await events.notify_grade(grade_id=str(grade.id), event_key=changed_key, changed=True)
    # The inbox keeps one item for one grade; it now tells the corrected value, as a
    # correction (the first email went out: there is no grace window here).
    assert created == 0
    (stored,) = await stored_for(world.student)
    assert stored.id == before.id
    assert stored.event_key == changed_key
    assert stored.data["changed"] is True
    assert stored.data["value"] == 4


async def test_a_grade_deleted_before_its_job_ran_notifies_nobody(world: World) -> None:
    grade = await _grade(world)
    key = events.grade_event_key(grade)
    await grade.delete()
    assert await events.notify_grade(grade_id=str(grade.id), event_key=key) == 0
    assert await Notification.find_all().count() == 0


# --- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipients", "batch_size", "round_trips"), [(10, 3, 4), (10, 10, 1), (10, 1000, 1), (7, 1, 7)]
)
async def test_inserts_grow_with_batches_not_recipients(
    app: Any,
    make_user: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
    recipients: int,
    batch_size: int,
    round_trips: int,
) -> None:
    users = [await make_user(Role.student) for _ in range(recipients)]
    ids = [u.id for u in users if u.id is not None]
    collection = Notification.get_motor_collection()
    calls: list[int] = []
    real_insert_many = collection.insert_many

    async def counting_insert_many(documents: list[Any], *args: Any, **kwargs: Any) -> Any:
        calls.append(len(documents))
        return await real_insert_many(documents, *args, **kwargs)

    monkeypatch.setattr(collection, "insert_many", counting_insert_many)
    real_find = User.find
    user_queries: list[int] = []

    def counting_find(*args: Any, **kwargs: Any) -> Any:
        user_queries.append(1)
        return real_find(*args, **kwargs)

    monkeypatch.setattr(User, "find", counting_find)

    assert await fanout.deliver(event("e:batches"), ids, batch_size=batch_size) == recipients
    assert len(calls) == round_trips
    assert sum(calls) == recipients
    assert len(user_queries) == round_trips
    assert await Notification.find({"event_key": "e:batches"}).count() == recipients
