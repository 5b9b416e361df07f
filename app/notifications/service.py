"""Preferences, subscriptions and the inbox; fan-out is in fanout.py."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from app.auth import user_cache
from app.auth.models import Role, User
from app.core.db import collection
from app.core.errors import Forbidden, NotFound
from app.core.pagination import newest_first_page
from app.core.security import utcnow
from app.notifications import digests as digests
from app.notifications.models import (
    SUBSCRIBABLE_TOPICS,
    EmailDecision,
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
from app.schools import guardians
from app.schools import hooks as school_hooks
from app.schools.access import is_linked_guardian, is_school_admin, load_class, load_student
from app.schools.models import School

log = logging.getLogger(__name__)


# --- preferences -------------------------------------------------------------------------


async def replace_preferences(*, user: User, preferences: Preferences) -> Preferences:
    """Replace the whole preferences document (and move digest due times it changes)."""
    await digests.reschedule(user=user, preferences=preferences, timezone=user.timezone)
    assert user.id is not None
    user_cache.forget_user(user.id)
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
    return sorted((await guardians.children_of([parent_id])).get(parent_id, set()))


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
