"""Preferences, subscriptions, the inbox, and who hears about each event."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from app.auth.models import Role, User
from app.core.db import collection, insert_many_ignoring_duplicates
from app.core.errors import Forbidden, NotFound
from app.core.pagination import newest_first_page
from app.core.security import utcnow
from app.delivery.service import queue_emails
from app.notifications import digests as digests
from app.notifications.emails import immediate_emails
from app.notifications.models import (
    SUBSCRIBABLE_TOPICS,
    EmailDecision,
    Event,
    Notification,
    Subscription,
    TargetType,
    Topic,
)
from app.notifications.preferences import (
    PRIORITY_RANK,
    EmailFrequency,
    Preferences,
    PreferencesPatch,
    Priority,
)
from app.schools import hooks as school_hooks
from app.schools.access import is_linked_guardian, is_school_admin, load_class, load_student
from app.schools.models import GuardianLink, School, SchoolClass

log = logging.getLogger(__name__)

FANOUT_BATCH_SIZE = 1000


# --- preferences -------------------------------------------------------------------------


async def replace_preferences(*, user: User, preferences: Preferences) -> Preferences:
    """Replace the whole preferences document (and move digest due times it changes)."""
    await digests.reschedule(user=user, preferences=preferences, timezone=user.timezone)
    return preferences


async def turn_email_off(*, user_id: PydanticObjectId, topics: Sequence[Topic]) -> User:
    """What a one-click unsubscribe link does: no more email on these topics."""
    user = await User.get(user_id)
    if user is None or user.is_deleted:
        raise NotFound("This account no longer exists")
    preferences = user.preferences.model_copy(deep=True)
    for topic in topics:
        setattr(preferences.email, topic.value, EmailFrequency.off)
    await replace_preferences(user=user, preferences=preferences)
    return user


async def patch_preferences(*, user: User, patch: PreferencesPatch) -> Preferences:
    """Merge a partial update, topic by topic."""
    return await replace_preferences(user=user, preferences=patch.apply_to(user.preferences))


def decide_email(preferences: Preferences, topic: Topic, priority: Priority) -> EmailDecision:
    """What the email side does with one notification for this person."""
    if priority == Priority.critical:
        return EmailDecision.immediate
    if PRIORITY_RANK[priority] < PRIORITY_RANK[preferences.min_priority]:
        return EmailDecision.none
    frequency = getattr(preferences.email, topic.value, EmailFrequency.off)
    if frequency == EmailFrequency.immediate:
        return EmailDecision.immediate
    if frequency in (EmailFrequency.daily, EmailFrequency.weekly):
        return EmailDecision.digest
    return EmailDecision.none


def wants_in_app(preferences: Preferences, topic: Topic, priority: Priority) -> bool:
    if priority == Priority.critical:
        return True
    return bool(getattr(preferences.in_app, topic.value, True))


# --- subscriptions -----------------------------------------------------------------------


async def _school_of_class(class_id: PydanticObjectId) -> School:
    school, _ = await load_class(class_id)
    return school


async def _children_of(parent_id: PydanticObjectId) -> list[PydanticObjectId]:
    links = await GuardianLink.find({"parent_id": parent_id}).to_list()
    return [link.student_id for link in links]


async def _check_subscription_target(
    user: User, target_type: TargetType, target_id: PydanticObjectId
) -> PydanticObjectId | None:
    """Refuse a target the user has no relation to; return the target's school."""
    assert user.id is not None
    if target_type == TargetType.student:
        student = await load_student(target_id)
        allowed = user.id == student.id or (
            user.role == Role.parent and await is_linked_guardian(user.id, target_id)
        )
        if not allowed:
            raise Forbidden("Only the student and their linked parents may follow a student")
        return student.school_ids[0] if student.school_ids else None

    if target_type == TargetType.class_:
        school = await _school_of_class(target_id)
        school_class = school.find_class(target_id)
        assert school_class is not None and school.id is not None
        roster = set(school_class.student_ids)
        allowed = (
            (user.role == Role.student and user.id in roster)
            or (user.role == Role.teacher and school_class.has_teacher(user.id))
            or (user.role == Role.parent and bool(roster & set(await _children_of(user.id))))
            or is_school_admin(user, school.id)
        )
        if not allowed:
            raise Forbidden("Only members of this class may follow it")
        return school.id

    target_school = await School.get(target_id)
    if target_school is None or target_school.deleted_at is not None:
        raise NotFound("School not found")
    assert target_school.id is not None
    if user.role in (Role.student, Role.teacher, Role.admin):
        allowed = target_school.id in user.school_ids
    else:
        children = await _children_of(user.id)
        allowed = bool(children) and (
            await User.find_one({"_id": {"$in": children}, "school_ids": target_school.id})
            is not None
        )
    if not allowed:
        raise Forbidden("Only members of this school may follow it")
    return target_school.id


async def subscribe(
    *,
    user: User,
    target_type: TargetType,
    target_id: PydanticObjectId,
    topics: Sequence[Topic] | None = None,
) -> tuple[Subscription, bool]:
    """Follow a student, class or school; returns (subscription, created)."""
    school_id = await _check_subscription_target(user, target_type, target_id)
    assert user.id is not None
    return await _upsert_subscription(
        subscriber_id=user.id,
        subscriber_role=user.role,
        target_type=target_type,
        target_id=target_id,
        school_id=school_id,
        topics=topics,
    )


async def _upsert_subscription(
    *,
    subscriber_id: PydanticObjectId,
    subscriber_role: Role,
    target_type: TargetType,
    target_id: PydanticObjectId,
    school_id: PydanticObjectId | None,
    topics: Sequence[Topic] | None,
) -> tuple[Subscription, bool]:
    key = {"subscriber_id": subscriber_id, "target_type": target_type, "target_id": target_id}
    existing = await Subscription.find_one(key)
    if existing is not None:
        return existing, False
    subscription = Subscription(
        subscriber_id=subscriber_id,
        subscriber_role=subscriber_role,
        target_type=target_type,
        target_id=target_id,
        school_id=school_id,
        topics=list(dict.fromkeys(topics or SUBSCRIBABLE_TOPICS)),
    )
    try:
        await subscription.insert()
    except DuplicateKeyError:
        # Two identical requests raced; the unique index let one through.
        raced = await Subscription.find_one(key)
        assert raced is not None
        return raced, False
    return subscription, True


@school_hooks.guardian_linked.connect
async def subscribe_guardian(
    *, parent_id: PydanticObjectId, student_id: PydanticObjectId
) -> Subscription:
    """A linked parent follows their child."""
    student = await load_student(student_id)
    subscription, _ = await _upsert_subscription(
        subscriber_id=parent_id,
        subscriber_role=Role.parent,
        target_type=TargetType.student,
        target_id=student_id,
        school_id=student.school_ids[0] if student.school_ids else None,
        topics=None,
    )
    return subscription


@school_hooks.guardian_unlinked.connect
async def unsubscribe_guardian(
    *, parent_id: PydanticObjectId, student_id: PydanticObjectId
) -> None:
    """An unlinked parent stops following the child, and the child's class and school unless
    another of their children still sits there."""
    await Subscription.find(
        {"subscriber_id": parent_id, "target_type": TargetType.student, "target_id": student_id}
    ).delete()
    through_children = await Subscription.find(
        {
            "subscriber_id": parent_id,
            "target_type": {"$in": [TargetType.class_.value, TargetType.school.value]},
        }
    ).to_list()
    if not through_children:
        return
    remaining = await _children_of(parent_id)
    related: set[tuple[TargetType, PydanticObjectId]] = set()
    if remaining:
        students = await User.find({"_id": {"$in": remaining}, "deleted_at": None}).to_list()
        related |= {(TargetType.school, sid) for child in students for sid in child.school_ids}
        schools = await School.find(
            {"deleted_at": None, "classes.student_ids": {"$in": remaining}}
        ).to_list()
        related |= {
            (TargetType.class_, c.id)
            for school in schools
            for c in school.classes
            if set(c.student_ids) & set(remaining)
        }
    stale = [s.id for s in through_children if (s.target_type, s.target_id) not in related]
    if stale:
        await Subscription.find({"_id": {"$in": stale}}).delete()


async def list_subscriptions(
    *, user: User, limit: int, cursor: str | None
) -> tuple[list[Subscription], str | None]:
    return await newest_first_page(
        Subscription, {"subscriber_id": user.id}, limit=limit, cursor=cursor
    )


async def delete_subscription(*, user: User, subscription_id: PydanticObjectId) -> None:
    result = await Subscription.find({"_id": subscription_id, "subscriber_id": user.id}).delete()
    if result is None or result.deleted_count == 0:
        raise NotFound("Subscription not found")


# --- inbox -------------------------------------------------------------------------------


def _inbox_query(user: User, *, unread_only: bool, topic: Topic | None) -> dict[str, Any]:
    query: dict[str, Any] = {"recipient_id": user.id, "in_app": True}
    if unread_only:
        query["read_at"] = None
    if topic is not None:
        query["topic"] = topic
    return query


async def list_inbox(
    *, user: User, unread_only: bool, topic: Topic | None, limit: int, cursor: str | None
) -> tuple[list[Notification], str | None]:
    query = _inbox_query(user, unread_only=unread_only, topic=topic)
    return await newest_first_page(Notification, query, limit=limit, cursor=cursor)


async def unread_count(*, user: User) -> int:
    return await Notification.find(_inbox_query(user, unread_only=True, topic=None)).count()


async def mark_read(*, user: User, notification_id: PydanticObjectId) -> None:
    owned = {"_id": notification_id, "recipient_id": user.id, "in_app": True}
    # Only the first read sets the time; marking again keeps it.
    result = await collection(Notification).update_one(
        {**owned, "read_at": None}, {"$set": {"read_at": utcnow()}}
    )
    if result.matched_count == 0 and await Notification.find_one(owned) is None:
        raise NotFound("Notification not found")


async def mark_all_read(*, user: User) -> int:
    result = await collection(Notification).update_many(
        _inbox_query(user, unread_only=True, topic=None), {"$set": {"read_at": utcnow()}}
    )
    return int(result.modified_count)


# --- fan-out -----------------------------------------------------------------------------


def _batches(ids: Sequence[PydanticObjectId], size: int) -> Iterable[list[PydanticObjectId]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def unique_recipients(
    candidates: Iterable[PydanticObjectId], *, actor_id: PydanticObjectId | None
) -> list[PydanticObjectId]:
    """Candidates in first-seen order, each once, never the event's author."""
    return [rid for rid in dict.fromkeys(candidates) if rid != actor_id]


def build_notification(event: Event, recipient: User) -> Notification | None:
    """The notification one recipient gets, or None when they want neither inbox nor email."""
    assert recipient.id is not None
    preferences = recipient.preferences
    in_app = wants_in_app(preferences, event.topic, event.priority)
    decision = decide_email(preferences, event.topic, event.priority)
    if not in_app and decision == EmailDecision.none:
        return None
    frequency = getattr(preferences.email, event.topic.value, None)
    title, body = event.words_for(recipient.locale.value)
    return Notification(
        event_key=event.key,
        recipient_id=recipient.id,
        school_id=event.school_id,
        topic=event.topic,
        priority=event.priority,
        title=title,
        body=body,
        data=event.data,
        in_app=in_app,
        email_decision=decision,
        digest_frequency=frequency if decision == EmailDecision.digest else None,
    )


async def deliver(
    event: Event,
    recipient_ids: Sequence[PydanticObjectId],
    *,
    batch_size: int = FANOUT_BATCH_SIZE,
    now: datetime | None = None,
) -> int:
    """Write the event's notifications, a batch of recipients per round trip; idempotent.

    Each batch is a query for who already has it, one for the recipients and one unordered
    insert_many; rows that exist (a retried or repeated fan-out) are never written twice.
    Returns how many notifications this call created.
    """
    recipients = unique_recipients(recipient_ids, actor_id=event.actor_id)
    created = 0
    for batch in _batches(recipients, batch_size):
        # Skipping those already notified keeps a re-run from paying for a failed insert
        # per recipient; the unique index still settles any race between two runs.
        done = set(
            await collection(Notification).distinct(
                "recipient_id", {"event_key": event.key, "recipient_id": {"$in": batch}}
            )
        )
        pending = [rid for rid in batch if rid not in done]
        if not pending:
            continue
        users = await User.find({"_id": {"$in": pending}, "deleted_at": None}).to_list()
        built = [(n, u) for u, n in ((u, build_notification(event, u)) for u in users) if n]
        # Emails first: a crash between the two writes leaves recipients without the
        # notification, whom a re-run covers, rather than notified people without email.
        await queue_emails(immediate_emails(event, built, now=now or utcnow()))
        created += await _insert_ignoring_duplicates([n for n, _ in built])
    return created


async def _insert_ignoring_duplicates(notifications: list[Notification]) -> int:
    documents = [n.model_dump(by_alias=True, exclude={"id"}) for n in notifications]
    return await insert_many_ignoring_duplicates(collection(Notification), documents)


# --- who is notified, one function per event kind ---------------------------------------


async def _parent_subscriptions(
    target_type: TargetType, target_ids: Sequence[PydanticObjectId], topic: Topic
) -> list[Subscription]:
    found: list[Subscription] = []
    for batch in _batches(list(target_ids), FANOUT_BATCH_SIZE):
        found.extend(
            await Subscription.find(
                {
                    "target_type": target_type,
                    "target_id": {"$in": batch},
                    "subscriber_role": Role.parent,
                    "topics": topic,
                }
            ).to_list()
        )
    return found


async def _children_by_parent(
    parent_ids: Sequence[PydanticObjectId],
) -> dict[PydanticObjectId, set[PydanticObjectId]]:
    children: dict[PydanticObjectId, set[PydanticObjectId]] = {}
    for batch in _batches(list(dict.fromkeys(parent_ids)), FANOUT_BATCH_SIZE):
        for link in await GuardianLink.find({"parent_id": {"$in": batch}}).to_list():
            children.setdefault(link.parent_id, set()).add(link.student_id)
    return children


def _related_through_a_child(
    subscription: Subscription,
    children: set[PydanticObjectId],
    *,
    school_students: set[PydanticObjectId],
    rosters: dict[PydanticObjectId, set[PydanticObjectId]],
) -> bool:
    """Whether a parent's subscription still rests on a linked child: the child followed, a
    child in the class followed, or a child in the school followed."""
    if subscription.target_type == TargetType.student:
        return subscription.target_id in children
    if subscription.target_type == TargetType.class_:
        return bool(children & rosters.get(subscription.target_id, set()))
    return bool(children & school_students)


async def grade_recipients(
    *, student_id: PydanticObjectId, teacher_id: PydanticObjectId | None
) -> list[PydanticObjectId]:
    """A grade posted or changed: the student and parents subscribed to that student who are
    still linked to them (checked now, not when they subscribed)."""
    subscriptions = await _parent_subscriptions(TargetType.student, [student_id], Topic.grades)
    linked = {
        link.parent_id for link in await GuardianLink.find({"student_id": student_id}).to_list()
    }
    parents = [s.subscriber_id for s in subscriptions if s.subscriber_id in linked]
    return unique_recipients([student_id, *parents], actor_id=teacher_id)


async def announcement_recipients(
    *,
    school: School,
    class_ids: Sequence[PydanticObjectId],
    roles: Sequence[Role],
    critical: bool,
    author_id: PydanticObjectId | None,
) -> list[PydanticObjectId]:
    """An announcement: members in the audience, subscribed parents, and for critical ones
    every linked parent of a student in the audience."""
    assert school.id is not None
    wanted = set(roles) or {Role.student, Role.teacher, Role.parent}
    addressed = [c for c in school.classes if not class_ids or c.id in set(class_ids)]
    whole_school = not class_ids

    students: list[PydanticObjectId] = []
    if whole_school:
        students = await _member_ids(school.id, Role.student)
    else:
        students = list(dict.fromkeys(s for c in addressed for s in c.student_ids))

    candidates: list[PydanticObjectId] = []
    if Role.student in wanted:
        candidates.extend(students)
    if Role.teacher in wanted:
        if whole_school:
            candidates.extend(await _member_ids(school.id, Role.teacher))
        else:
            candidates.extend(t.teacher_id for c in addressed for t in c.teachers)
    if Role.parent in wanted:
        candidates.extend(
            await _following_parents(school=school, addressed=addressed, students=students)
        )
        if critical:
            candidates.extend(await _linked_parents(students))
    return unique_recipients(candidates, actor_id=author_id)


async def _following_parents(
    *, school: School, addressed: Sequence[SchoolClass], students: Sequence[PydanticObjectId]
) -> list[PydanticObjectId]:
    """Parents who follow the school, an addressed class or a child in the audience for
    announcements, and whose subscription still rests on a child linked to them now: a
    parent unlinked since (custody, a child who moved) hears nothing through it."""
    assert school.id is not None
    topic = Topic.announcements
    subscriptions = [
        *await _parent_subscriptions(TargetType.school, [school.id], topic),
        *await _parent_subscriptions(TargetType.class_, [c.id for c in addressed], topic),
        *await _parent_subscriptions(TargetType.student, students, topic),
    ]
    if not subscriptions:
        return []
    children = await _children_by_parent([s.subscriber_id for s in subscriptions])
    rosters = {c.id: set(c.student_ids) for c in school.classes}
    school_students: set[PydanticObjectId] = set()
    if any(s.target_type == TargetType.school for s in subscriptions):
        school_students = set(await _member_ids(school.id, Role.student))
    return [
        s.subscriber_id
        for s in subscriptions
        if _related_through_a_child(
            s,
            children.get(s.subscriber_id, set()),
            school_students=school_students,
            rosters=rosters,
        )
    ]


async def _member_ids(school_id: PydanticObjectId, role: Role) -> list[PydanticObjectId]:
    documents = collection(User)
    cursor = documents.find({"school_ids": school_id, "role": role, "deleted_at": None}, {"_id": 1})
    return [PydanticObjectId(row["_id"]) async for row in cursor]


async def _linked_parents(student_ids: Sequence[PydanticObjectId]) -> list[PydanticObjectId]:
    found: list[PydanticObjectId] = []
    for batch in _batches(list(student_ids), FANOUT_BATCH_SIZE):
        links = await GuardianLink.find({"student_id": {"$in": batch}}).to_list()
        found.extend(link.parent_id for link in links)
    return found
