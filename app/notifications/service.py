"""Preferences, subscriptions and the inbox; fan-out is in fanout.py."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from app.auth import directory
from app.auth import service as accounts
from app.auth.models import Role, User
from app.core.db import having_joined, joined
from app.core.errors import NotFound
from app.core.pagination import newest_first_page
from app.core.security import utcnow
from app.notifications import digest_schedule, repository
from app.notifications.access import FollowTarget, children_of_parent
from app.notifications.models import (
    EmailDecision,
    Notification,
    Subscription,
    TargetType,
)
from app.notifications.preferences import PRIORITY_RANK, Preferences, PreferencesPatch
from app.notifications.settings import settings_of
from app.notifications.topics import EmailFrequency, Priority
from app.notifications.topics import topics as registry
from app.schools import hooks as school_hooks
from app.schools import service as schools
from app.schools.access import (
    load_student,
)

log = logging.getLogger(__name__)


# --- preferences -------------------------------------------------------------------------


async def preferences_of(user: User) -> Preferences:
    assert user.id is not None
    return (await settings_of(user.id)).preferences


async def replace_preferences(*, user: User, preferences: Preferences) -> Preferences:
    """Replace the whole preferences document (and move digest due times it changes)."""
    return await _change_preferences(user, lambda _current: preferences)


async def turn_email_off(*, user_id: PydanticObjectId, topics: Sequence[str]) -> User:
    """What a one-click unsubscribe link does: no more email on these topics."""
    user = await accounts.get_live_user(user_id)
    if user is None:
        raise NotFound("This account no longer exists")

    def without_email(current: Preferences) -> Preferences:
        preferences = current.model_copy(deep=True)
        for topic in topics:
            preferences.email[topic] = EmailFrequency.off
        return preferences

    await _change_preferences(user, without_email)
    return user


async def patch_preferences(*, user: User, patch: PreferencesPatch) -> Preferences:
    """Merge a partial update, topic by topic."""
    return await _change_preferences(user, patch.apply_to)


async def _change_preferences(
    user: User, change: Callable[[Preferences], Preferences]
) -> Preferences:
    """Read the person's settings once, store `change` of their preferences, and move the
    digest due times that change moves."""
    assert user.id is not None
    settings = await settings_of(user.id)
    preferences = change(settings.preferences)
    await digest_schedule.reschedule(
        user=user, settings=settings, preferences=preferences, timezone=user.timezone
    )
    return preferences


def decide_email(preferences: Preferences, topic: str, priority: Priority) -> EmailDecision:
    """What the email side does with one notification for this person."""
    if priority == Priority.critical:
        return EmailDecision.immediate
    if PRIORITY_RANK[priority] < PRIORITY_RANK[preferences.min_priority]:
        return EmailDecision.none
    frequency = preferences.email_for(topic)
    if frequency == EmailFrequency.immediate:
        return EmailDecision.immediate
    if frequency in (EmailFrequency.daily, EmailFrequency.weekly):
        return EmailDecision.digest
    return EmailDecision.none


def wants_in_app(preferences: Preferences, topic: str, priority: Priority) -> bool:
    if priority == Priority.critical:
        return True
    return preferences.in_app_for(topic)


async def parent_followers(
    *, target_type: TargetType, target_ids: Sequence[PydanticObjectId], topic: str
) -> list[Subscription]:
    """Parents' subscriptions to these students, classes or schools for `topic`; whether
    each still rests on a linked child is for the caller to ask the guardians service."""
    return await repository.followers(
        target_type=target_type, target_ids=target_ids, topic=topic, role=Role.parent
    )


# --- subscriptions -----------------------------------------------------------------------


async def subscribe(*, user: User, target: FollowTarget) -> tuple[Subscription, bool]:
    """Follow a student, class or school; returns (subscription, created)."""
    assert user.id is not None
    return await _upsert_subscription(
        subscriber_id=user.id,
        subscriber_role=user.role,
        target_type=target.target_type,
        target_id=target.target_id,
        school_id=target.school_id,
        topics=target.topics,
    )


async def _upsert_subscription(
    *,
    subscriber_id: PydanticObjectId,
    subscriber_role: Role,
    target_type: TargetType,
    target_id: PydanticObjectId,
    school_id: PydanticObjectId | None,
    topics: Sequence[str] | None,
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
        topics=list(dict.fromkeys(topics or registry.names())),
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


async def guardians_follow_new_topic(topic: str) -> int:
    """Every parent's subscription to their child follows `topic`, a topic registered after
    they linked (a subscription lists the topics there were): linking a child is following
    it, so the new topic reaches them at its default, as their preferences read it. Run
    once, when the topic arrives; a parent who later leaves it out stays out. How many
    subscriptions changed."""
    registry.get(topic)  # a registered topic, or KeyError
    return await repository.add_topic_to_guardian_subscriptions(topic)


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
    remaining = sorted(await children_of_parent(parent_id))
    related: set[tuple[TargetType, PydanticObjectId]] = set()
    if remaining:
        places = await schools.places_of(remaining)
        related |= {(TargetType.school, school_id) for school_id in places.school_ids}
        related |= {(TargetType.class_, class_id) for class_id in places.class_ids}
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


def _inbox_query(user: User, *, unread_only: bool, topic: str | None) -> dict[str, Any]:
    query: dict[str, Any] = {"recipient_id": user.id, "in_app": True}
    if unread_only:
        query["read_at"] = None
    if topic is not None:
        query["topic"] = topic
    return query


async def list_inbox(
    *, user: User, unread_only: bool, topic: str | None, limit: int, cursor: str | None
) -> tuple[list[Notification], str | None]:
    query = _inbox_query(user, unread_only=unread_only, topic=topic)
    return await newest_first_page(Notification, query, limit=limit, cursor=cursor)


async def unread_count(*, user: User) -> int:
    return await Notification.find(_inbox_query(user, unread_only=True, topic=None)).count()


async def mark_read(*, user: User, notification_id: PydanticObjectId) -> None:
    assert user.id is not None
    # Only the first read sets the time; marking again keeps it.
    found = await repository.mark_read(
        recipient_id=user.id, notification_id=notification_id, now=utcnow()
    )
    if not found:
        raise NotFound("Notification not found")


async def mark_all_read(*, user: User) -> int:
    return await repository.mark_all_read(
        _inbox_query(user, unread_only=True, topic=None), now=utcnow()
    )


# --- notifications in figures: stages another layer composes into one aggregation -------

_READ = {"$sum": {"$cond": [{"$gt": ["$read_at", None]}, 1, 0]}}


def subscriber_count_stages() -> list[dict[str, Any]]:
    """From documents whose `_id` is a school id: how many live users follow something in
    those schools, each counted once (a soft-deleted account keeps its subscriptions but
    hears nothing). Rows: none or one {count}."""
    return [
        *joined(Subscription, local_field="_id", foreign_field="school_id"),
        {"$group": {"_id": "$subscriber_id"}},
        *directory.live_user_stages("_id"),
        {"$count": "count"},
    ]


def recent_notification_stages(*, since: datetime) -> list[dict[str, Any]]:
    """From documents whose `_id` is a school id: those schools' notifications created
    since `since`, by topic. Rows: {_id: topic, count, read}."""
    return [
        *joined(
            Notification,
            local_field="_id",
            foreign_field="school_id",
            match={"created_at": {"$gte": since}},
        ),
        {"$group": {"_id": "$topic", "count": {"$sum": 1}, "read": _READ}},
    ]


def event_figure_stages(event_key: str) -> list[dict[str, Any]]:
    """From any one document: the notifications of this event, how many are in an inbox
    and how many were read. Rows: none or one {in_app, read}."""
    return [
        {"$project": {"_id": 0, "event_key": {"$literal": event_key}}},
        *joined(Notification, local_field="event_key", foreign_field="event_key"),
        {
            "$group": {
                "_id": None,
                "in_app": {"$sum": {"$cond": ["$in_app", 1, 0]}},
                "read": _READ,
            }
        },
    ]


def notified_stages(
    *, recipient_id: PydanticObjectId, event_key_field: str
) -> list[dict[str, Any]]:
    """Keep the documents whose event (its key in `event_key_field`) notified this recipient,
    in the inbox or by email only. An event notifies a person once, so each stays once."""
    return having_joined(
        Notification,
        local_field=event_key_field,
        foreign_field="event_key",
        match={"recipient_id": recipient_id},
    )


async def count_for_event(event_key: str) -> int:
    """How many people an event reached (notified in the inbox or by email only)."""
    return await Notification.find({"event_key": event_key}).count()
