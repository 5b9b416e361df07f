"""Announcements: audience checks, idempotent posting, scheduling, fan-out and figures."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.announcements.models import Announcement, AnnouncementStatus
from app.announcements.schemas import (
    AnnouncementIn,
    AnnouncementStats,
    EmailFigures,
    NotificationFigures,
    Stats,
)
from app.auth.models import Role, User
from app.core import jobs
from app.core.db import aggregate, collection, parse_object_id
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.pagination import newest_first_page
from app.core.security import as_utc, to_millisecond, utcnow
from app.delivery import service as delivery
from app.delivery.models import EmailStatus
from app.notifications import fanout
from app.notifications.models import Event, Notification, Subscription, Topic
from app.notifications.preferences import Priority
from app.schools import guardians
from app.schools.access import is_school_admin, load_school
from app.schools.models import School

FANOUT_JOB = "announcements.fanout"
PUBLISH_DUE_JOB = "announcements.publish_due"
# A fan-out that has not finished in this long is assumed lost (its worker died) and re-sent.
STALLED_PUBLISHING = timedelta(minutes=10)


def _fingerprint(body: AnnouncementIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_audience(author: User, school: School, body: AnnouncementIn) -> list[PydanticObjectId]:
    assert school.id is not None and author.id is not None
    class_ids = list(dict.fromkeys(body.class_ids))
    addressed = {c: school.find_class(c) for c in class_ids}
    unknown = [str(c) for c, found in addressed.items() if found is None]
    if unknown:
        raise Unprocessable(f"Unknown class ids for this school: {', '.join(unknown)}")
    if is_school_admin(author, school.id):
        return class_ids
    if author.role != Role.teacher or school.id not in author.school_ids:
        raise Forbidden("Only the school's admins and teachers may announce")
    if not class_ids:
        raise Forbidden("Teachers announce to their own classes: give class_ids")
    foreign = [
        str(c) for c, found in addressed.items() if found and not found.has_teacher(author.id)
    ]
    if foreign:
        raise Forbidden(f"You do not teach these classes: {', '.join(foreign)}")
    return class_ids


async def find_replay(
    *, author: User, idempotency_key: str | None, body: AnnouncementIn
) -> Announcement | None:
    """The announcement an earlier request with this Idempotency-Key created, if any."""
    if idempotency_key is None:
        return None
    existing = await Announcement.find_one({"idempotency_scope": f"{author.id}:{idempotency_key}"})
    if existing is not None and existing.request_fingerprint != _fingerprint(body):
        raise Conflict("This Idempotency-Key was already used with a different request body")
    return existing


async def create_announcement(
    *, author: User, body: AnnouncementIn, idempotency_key: str | None
) -> Announcement:
    """Post an announcement: published now (fanned out by a job) or scheduled."""
    replay = await find_replay(author=author, idempotency_key=idempotency_key, body=body)
    if replay is not None:
        return replay
    school = await load_school(str(body.school_id))
    class_ids = _check_audience(author, school, body)
    now = utcnow()
    # To the millisecond MongoDB keeps, so the 202 answers what a later GET reads back.
    publish_at = to_millisecond(as_utc(body.publish_at)) if body.publish_at else now
    scheduled = publish_at > now
    assert school.id is not None and author.id is not None
    announcement = Announcement(
        school_id=school.id,
        author_id=author.id,
        title=body.title,
        body=body.body,
        priority=body.priority,
        class_ids=class_ids,
        roles=[Role(r) for r in dict.fromkeys(body.roles)],
        publish_at=publish_at,
        status=AnnouncementStatus.scheduled if scheduled else AnnouncementStatus.publishing,
        publishing_since=None if scheduled else now,
        idempotency_scope=f"{author.id}:{idempotency_key}" if idempotency_key else None,
        request_fingerprint=_fingerprint(body) if idempotency_key else None,
    )
    try:
        await announcement.insert()
    except DuplicateKeyError:
        # The same key raced in from a parallel request: answer as a replay.
        replay = await find_replay(author=author, idempotency_key=idempotency_key, body=body)
        if replay is None:
            raise
        return replay
    if not scheduled:
        await jobs.enqueue(FANOUT_JOB, announcement_id=str(announcement.id))
    return announcement


@jobs.job(FANOUT_JOB, queue=jobs.FANOUT_QUEUE)
async def fan_out(*, announcement_id: str) -> int:
    """Notify the announcement's audience; safe to run again (dedupe key per recipient)."""
    announcement = await Announcement.get(PydanticObjectId(announcement_id))
    if announcement is None or announcement.status in (
        AnnouncementStatus.cancelled,
        AnnouncementStatus.scheduled,
    ):
        return 0
    school = await School.get(announcement.school_id)
    if school is None or school.deleted_at is not None:
        # Left in `publishing`, the stalled-fan-out sweep would retry it forever.
        await collection(Announcement).update_one(
            {"_id": announcement.id},
            {"$set": {"status": AnnouncementStatus.cancelled, "cancelled_at": utcnow()}},
        )
        return 0
    recipients = await fanout.announcement_recipients(
        school=school,
        class_ids=announcement.class_ids,
        roles=announcement.roles,
        critical=announcement.priority == Priority.critical,
        author_id=announcement.author_id,
    )
    author = await User.get(announcement.author_id)
    event = Event(
        key=announcement.event_key,
        topic=Topic.announcements,
        template="announcement",
        title=announcement.title,
        body=announcement.body,
        priority=announcement.priority,
        school_id=announcement.school_id,
        actor_id=announcement.author_id,
        data={
            "announcement_id": str(announcement.id),
            "school_id": str(announcement.school_id),
            "school_name": school.name,
            "author_name": author.full_name if author else None,
        },
    )
    created = await fanout.deliver(event, recipients)
    # Who was reached, not who was expanded: soft-deleted roster members and people who
    # turned both channels off got nothing. Counted after the writes, so a re-run agrees.
    reached = await Notification.find({"event_key": announcement.event_key}).count()
    await collection(Announcement).update_one(
        {"_id": announcement.id},
        {
            "$set": {
                "status": AnnouncementStatus.published,
                "recipients": reached,
                "published_at": announcement.published_at or utcnow(),
            }
        },
    )
    return created


@jobs.job(PUBLISH_DUE_JOB)
async def publish_due(*, now: datetime | None = None) -> int:
    """Start the fan-out of every scheduled announcement whose time has come (beat, every minute).

    Each one is claimed with one conditional update, so two beats never publish it twice;
    a fan-out stalled in `publishing` (its worker died) is sent again.
    """
    now = now or utcnow()
    documents = collection(Announcement)
    started = 0
    due = {"status": AnnouncementStatus.scheduled, "publish_at": {"$lte": now}}
    stalled = {
        "status": AnnouncementStatus.publishing,
        "publishing_since": {"$lte": now - STALLED_PUBLISHING},
    }
    for condition in (due, stalled):
        while True:
            claimed = await documents.find_one_and_update(
                condition,
                {"$set": {"status": AnnouncementStatus.publishing, "publishing_since": now}},
                return_document=ReturnDocument.AFTER,
            )
            if claimed is None:
                break
            await jobs.enqueue(FANOUT_JOB, announcement_id=str(claimed["_id"]))
            started += 1
    return started


async def _announcement_for_manager(user: User, announcement_id: str) -> Announcement:
    announcement = await Announcement.get(parse_object_id(announcement_id, what="Announcement"))
    if announcement is None:
        raise NotFound("Announcement not found")
    if announcement.author_id != user.id and not is_school_admin(user, announcement.school_id):
        raise Forbidden("Only the author and the school's admins may see this")
    return announcement


async def get_announcement(
    *, user: User, announcement_id: str
) -> tuple[Announcement, AnnouncementStats]:
    """An announcement with its delivery figures, for its author and the school's admins."""
    announcement = await _announcement_for_manager(user, announcement_id)
    return announcement, await announcement_stats(announcement)


async def announcement_stats(announcement: Announcement) -> AnnouncementStats:
    rows = await aggregate(
        Notification,
        [
            {"$match": {"event_key": announcement.event_key}},
            {
                "$group": {
                    "_id": None,
                    "in_app": {"$sum": {"$cond": ["$in_app", 1, 0]}},
                    "read": {"$sum": {"$cond": [{"$gt": ["$read_at", None]}, 1, 0]}},
                }
            },
        ],
    )
    figures = rows[0] if rows else {"in_app": 0, "read": 0}
    emails = await delivery.email_counts({"announcement_id": announcement.id})
    return AnnouncementStats(
        recipients=announcement.recipients,
        in_app=figures["in_app"],
        read=figures["read"],
        email_sent=emails[EmailStatus.sent],
        email_failed=emails[EmailStatus.failed] + emails[EmailStatus.dead],
        email_pending=emails[EmailStatus.pending] + emails[EmailStatus.sending],
    )


async def cancel_announcement(*, user: User, announcement_id: str) -> Announcement:
    """Cancel a scheduled announcement before it goes out."""
    announcement = await _announcement_for_manager(user, announcement_id)
    updated = await collection(Announcement).find_one_and_update(
        {"_id": announcement.id, "status": AnnouncementStatus.scheduled},
        {"$set": {"status": AnnouncementStatus.cancelled, "cancelled_at": utcnow()}},
        return_document=ReturnDocument.AFTER,
    )
    if updated is None:
        state = announcement.status.value
        raise Conflict(f"Only a scheduled announcement can be cancelled; this one is {state}")
    return Announcement.model_validate(updated)


async def list_announcements(
    *, user: User, school_id: str | None, limit: int, cursor: str | None
) -> tuple[list[Announcement], str | None]:
    """Admins see their schools' announcements; everyone else what was addressed to them
    (and, for teachers, what they wrote)."""
    assert user.id is not None
    query: dict[str, Any] = {}
    if school_id is not None:
        query["school_id"] = parse_object_id(school_id, what="School")
    if user.role == Role.admin:
        schools = [
            s for s in user.school_ids if "school_id" not in query or s == query["school_id"]
        ]
        query["school_id"] = {"$in": schools}
    else:
        # Addressed to them: they were notified, in the inbox or by email only.
        received = await collection(Notification).distinct(
            "data.announcement_id", {"recipient_id": user.id, "topic": Topic.announcements}
        )
        addressed = [PydanticObjectId(a) for a in received]
        query["$and"] = [{"$or": [{"_id": {"$in": addressed}}, {"author_id": user.id}]}]
    return await newest_first_page(Announcement, query, limit=limit, cursor=cursor)


async def school_stats(*, admin: User, now: datetime | None = None) -> Stats:
    """Figures over the admin's schools: subscribers, users by role, the last day's traffic."""
    now = now or utcnow()
    schools = list(admin.school_ids)
    users = collection(User)
    by_role: dict[str, int] = {role.value: 0 for role in Role}
    for row in await aggregate(
        User,
        [
            {"$match": {"school_ids": {"$in": schools}, "deleted_at": None}},
            {"$group": {"_id": "$role", "count": {"$sum": 1}}},
        ],
    ):
        by_role[row["_id"]] = row["count"]
    students = await users.distinct(
        "_id", {"school_ids": {"$in": schools}, "role": Role.student, "deleted_at": None}
    )
    # Parents belong to a school through their children.
    parents = await guardians.parents_of(students)
    by_role[Role.parent.value] = await User.find(
        {"_id": {"$in": parents}, "deleted_at": None}
    ).count()
    subscriber_ids = await collection(Subscription).distinct(
        "subscriber_id", {"school_id": {"$in": schools}}
    )
    # A soft-deleted account keeps its subscriptions but hears nothing: not active.
    active_subscribers = await User.find(
        {"_id": {"$in": subscriber_ids}, "deleted_at": None}
    ).count()
    recent = {"school_id": {"$in": schools}, "created_at": {"$gte": now - timedelta(hours=24)}}
    by_topic: dict[str, int] = {}
    total = read = 0
    for row in await aggregate(
        Notification,
        [
            {"$match": recent},
            {
                "$group": {
                    "_id": "$topic",
                    "count": {"$sum": 1},
                    "read": {"$sum": {"$cond": [{"$gt": ["$read_at", None]}, 1, 0]}},
                }
            },
        ],
    ):
        by_topic[row["_id"]] = row["count"]
        total += row["count"]
        read += row["read"]
    return Stats(
        school_ids=[str(s) for s in schools],
        active_subscribers=active_subscribers,
        users_by_role=by_role,
        notifications_last_24h=NotificationFigures(
            total=total, read=read, unread=total - read, by_topic=by_topic
        ),
        emails_last_24h=EmailFigures(**await delivery.email_counts(recent)),
    )


# --- the outbox, as a school admin sees it -------------------------------------------------


def email_scope(*, admin: User, school_id: str | None) -> dict[str, Any]:
    """The emails of the admin's schools, or of the one named (404 if not theirs)."""
    if school_id is None:
        return {"school_id": {"$in": list(admin.school_ids)}}
    wanted = parse_object_id(school_id, what="School")
    if wanted not in admin.school_ids:
        raise NotFound("School not found")
    return {"school_id": wanted}


async def announcement_email_scope(*, user: User, announcement_id: str) -> dict[str, Any]:
    """The emails of an announcement, for its author and the school's admins."""
    announcement = await _announcement_for_manager(user, announcement_id)
    return {"announcement_id": announcement.id}
