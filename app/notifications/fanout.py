"""Fan-out: who hears about each event, and writing their notifications (and emails) in
batches of recipients, idempotently."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from beanie import PydanticObjectId

from app.auth import directory
from app.auth.models import Role
from app.core.db import collection, insert_many_ignoring_duplicates
from app.core.security import utcnow
from app.delivery.service import queue_emails
from app.notifications.emails import immediate_emails
from app.notifications.models import (
    EmailDecision,
    Event,
    Notification,
    Recipient,
    Subscription,
    TargetType,
    Topic,
)
from app.notifications.service import decide_email, wants_in_app
from app.notifications.settings import settings_for
from app.schools import guardians
from app.schools.models import School, SchoolClass

log = logging.getLogger(__name__)

FANOUT_BATCH_SIZE = 1000


def _batches(ids: Sequence[PydanticObjectId], size: int) -> Iterable[list[PydanticObjectId]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def unique_recipients(
    candidates: Iterable[PydanticObjectId], *, actor_id: PydanticObjectId | None
) -> list[PydanticObjectId]:
    """Candidates in first-seen order, each once, never the event's author."""
    return [rid for rid in dict.fromkeys(candidates) if rid != actor_id]


def build_notification(event: Event, recipient: Recipient) -> Notification | None:
    """The notification one recipient gets, or None when they want neither inbox nor email."""
    user, preferences = recipient.user, recipient.preferences
    assert user.id is not None
    in_app = wants_in_app(preferences, event.topic, event.priority)
    decision = decide_email(preferences, event.topic, event.priority)
    if not in_app and decision == EmailDecision.none:
        return None
    frequency = getattr(preferences.email, event.topic.value, None)
    title, body = event.words_for(user.locale.value)
    return Notification(
        event_key=event.key,
        recipient_id=user.id,
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

    Each batch is a query for who already has it, one for the recipients, one for their
    settings and one unordered insert_many; rows that exist (a retried or repeated fan-out)
    are never written twice.
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
        users = await directory.live_users(pending)
        settings = await settings_for([u.id for u in users if u.id is not None])
        reached = [Recipient(u, settings[u.id].preferences) for u in users if u.id is not None]
        built = [(n, r) for r, n in ((r, build_notification(event, r)) for r in reached) if n]
        # Emails first: a crash between the two writes leaves recipients without the
        # notification, whom a re-run covers, rather than notified people without email.
        await queue_emails(immediate_emails(event, built, now=now or utcnow()))
        created += await _insert_ignoring_duplicates([n for n, _ in built])
    return created


async def _insert_ignoring_duplicates(notifications: list[Notification]) -> int:
    documents = [n.model_dump(by_alias=True, exclude={"id"}) for n in notifications]
    return await insert_many_ignoring_duplicates(Notification, documents)


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
    linked = set(await guardians.parents_of([student_id]))
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
        students = await directory.member_ids(school.id, Role.student)
    else:
        students = list(dict.fromkeys(s for c in addressed for s in c.student_ids))

    candidates: list[PydanticObjectId] = []
    if Role.student in wanted:
        candidates.extend(students)
    if Role.teacher in wanted:
        if whole_school:
            candidates.extend(await directory.member_ids(school.id, Role.teacher))
        else:
            candidates.extend(t.teacher_id for c in addressed for t in c.teachers)
    if Role.parent in wanted:
        candidates.extend(
            await _following_parents(
                school=school,
                addressed=addressed,
                students=students,
                school_students=students if whole_school else None,
            )
        )
        if critical:
            candidates.extend(await guardians.parents_of(students))
    return unique_recipients(candidates, actor_id=author_id)


async def _following_parents(
    *,
    school: School,
    addressed: Sequence[SchoolClass],
    students: Sequence[PydanticObjectId],
    school_students: Sequence[PydanticObjectId] | None,
) -> list[PydanticObjectId]:
    """Parents who follow the school, an addressed class or a child in the audience for
    announcements, and whose subscription still rests on a child linked to them now: a
    parent unlinked since (custody, a child who moved) hears nothing through it.
    `school_students`, when the caller already has them, saves reading them again."""
    assert school.id is not None
    topic = Topic.announcements
    subscriptions = [
        *await _parent_subscriptions(TargetType.school, [school.id], topic),
        *await _parent_subscriptions(TargetType.class_, [c.id for c in addressed], topic),
        *await _parent_subscriptions(TargetType.student, students, topic),
    ]
    if not subscriptions:
        return []
    children = await guardians.children_of([s.subscriber_id for s in subscriptions])
    rosters = {c.id: set(c.student_ids) for c in school.classes}
    in_school: set[PydanticObjectId] = set(school_students or ())
    if school_students is None and any(s.target_type == TargetType.school for s in subscriptions):
        in_school = set(await directory.member_ids(school.id, Role.student))
    return [
        s.subscriber_id
        for s in subscriptions
        if _related_through_a_child(
            s,
            children.get(s.subscriber_id, set()),
            school_students=in_school,
            rosters=rosters,
        )
    ]
