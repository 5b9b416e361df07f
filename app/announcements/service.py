"""Announcements: audience checks, idempotent posting, scheduling, fan-out and figures."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from app.announcements import acknowledgements, listing, repository
from app.announcements.audience import announcement_recipients
from app.announcements.models import Announcement, AnnouncementStatus
from app.announcements.notices import announcement_notice
from app.announcements.schemas import AnnouncementIn, AnnouncementStats
from app.auth import directory
from app.auth.models import Role, User
from app.core import jobs
from app.core.db import parse_object_id
from app.core.errors import Conflict
from app.core.pagination import (
    newest_first_filter,
    next_cursor,
)
from app.core.security import as_utc, to_millisecond, utcnow
from app.notifications import service as notifications
from app.notifications.fanout import publish
from app.notifications.preferences import Priority
from app.schools import service as schools
from app.schools.models import School

FANOUT_JOB = "announcements.fanout"
PUBLISH_DUE_JOB = "announcements.publish_due"
# A fan-out that has not finished in this long is assumed lost (its worker died) and re-sent.
STALLED_PUBLISHING = timedelta(minutes=10)


def _fingerprint(body: AnnouncementIn) -> str:
    fields = body.model_dump(mode="json")
    if not fields["requires_ack"]:
        # Left out unless asked for, so keys used before the field existed still replay.
        del fields["requires_ack"]
    canonical = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Audience:
    """Whom a new announcement may go to, as access.py checked it: the school and the
    classes named in the request (none: the whole school), each once."""

    school: School
    class_ids: list[PydanticObjectId]


async def find_replay(
    *, author: User, idempotency_key: str | None, body: AnnouncementIn
) -> Announcement | None:
    """The announcement an earlier request with this Idempotency-Key created, if any."""
    if idempotency_key is None:
        return None
    existing = await repository.by_idempotency_scope(f"{author.id}:{idempotency_key}")
    if existing is not None and existing.request_fingerprint != _fingerprint(body):
        raise Conflict("This Idempotency-Key was already used with a different request body")
    return existing


async def create_announcement(
    *, author: User, audience: Audience, body: AnnouncementIn, idempotency_key: str | None
) -> Announcement:
    """Post an announcement to an audience the author may address: published now (fanned
    out by a job) or scheduled."""
    replay = await find_replay(author=author, idempotency_key=idempotency_key, body=body)
    if replay is not None:
        return replay
    school, class_ids = audience.school, audience.class_ids
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
        requires_ack=body.requires_ack,
        publishing_since=None if scheduled else now,
        idempotency_scope=f"{author.id}:{idempotency_key}" if idempotency_key else None,
        request_fingerprint=_fingerprint(body) if idempotency_key else None,
    )
    try:
        await repository.insert(announcement)
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
    announcement = await repository.get(PydanticObjectId(announcement_id))
    if announcement is None or announcement.status in (
        AnnouncementStatus.cancelled,
        AnnouncementStatus.scheduled,
    ):
        return 0
    school = await schools.school_by_id(announcement.school_id)
    if (
        school is None
        or school.deleted_at is not None
        or not await _author_may_still_send(announcement, school)
    ):
        # Left in `publishing`, the stalled-fan-out sweep would retry it forever.
        await repository.cancel(announcement.id)
        return 0
    recipients = await announcement_recipients(
        school=school,
        class_ids=announcement.class_ids,
        roles=announcement.roles,
        critical=announcement.priority == Priority.critical,
        author_id=announcement.author_id,
    )
    if announcement.requires_ack:
        await acknowledgements.expect_acknowledgements(announcement, recipients)
    notice = await announcement_notice(announcement, school=school, recipients=recipients)
    # Published by the topic's `delivered` (topic.py) once every recipient has it: here for
    # one batch of recipients, after the last chunk job for more.
    return await publish(notice)


async def _author_may_still_send(announcement: Announcement, school: School) -> bool:
    """Whether the author may address this audience now, as when it was posted: a
    scheduled announcement speaks for them when it goes out, so an admin demoted or a
    teacher taken off the classes meanwhile no longer reaches anyone through it."""
    authors = await directory.live_users([announcement.author_id])
    author = authors[0] if authors else None
    if author is None or author.id is None or school.id not in author.school_ids:
        return False
    if author.role == Role.admin:
        return True
    if author.role != Role.teacher or announcement.priority == Priority.critical:
        return False
    classes = [school.find_class(class_id) for class_id in announcement.class_ids]
    return bool(classes) and all(c is not None and c.has_teacher(author.id) for c in classes)


@jobs.job(PUBLISH_DUE_JOB, every=timedelta(minutes=1), at_start=True)
async def publish_due(*, now: datetime | None = None) -> int:
    """Start the fan-out of every scheduled announcement whose time has come (beat, every minute).

    Each one is claimed with one conditional update, so two beats never publish it twice;
    a fan-out stalled in `publishing` (its worker died) is sent again.
    """
    now = now or utcnow()
    started = 0
    due = {"status": AnnouncementStatus.scheduled, "publish_at": {"$lte": now}}
    stalled = {
        "status": AnnouncementStatus.publishing,
        "publishing_since": {"$lte": now - STALLED_PUBLISHING},
    }
    for condition in (due, stalled):
        while True:
            claimed = await repository.claim_for_publishing(condition, now=now)
            if claimed is None:
                break
            await jobs.enqueue(FANOUT_JOB, announcement_id=claimed)
            started += 1
    return started


async def get_announcement(*, announcement: Announcement) -> AnnouncementStats:
    """The delivery figures of an announcement its author or a school admin may see."""
    return await announcement_stats(announcement)


async def announcement_stats(announcement: Announcement) -> AnnouncementStats:
    # One round trip: the announcement is the anchor each figure joins from (its
    # notifications by event key, its emails by id); notifications and delivery write
    # their own stages, and only this layer needs both.
    assert announcement.id is not None
    return (await listing.stats_of([announcement]))[announcement.id]


async def cancel_announcement(*, announcement: Announcement) -> Announcement:
    """Cancel a scheduled announcement before it goes out."""
    updated = await repository.cancel_scheduled(announcement.id)
    if updated is None:
        state = announcement.status.value
        raise Conflict(f"Only a scheduled announcement can be cancelled; this one is {state}")
    return updated


async def list_announcements(
    *,
    user: User,
    school_ids: Sequence[PydanticObjectId],
    school_id: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Announcement], str | None]:
    """Admins see their schools' announcements; everyone else what was addressed to them in
    the schools they belong to now, `school_ids` (and, for teachers, what they wrote)."""
    assert user.id is not None
    query: dict[str, Any] = {}
    if school_id is not None:
        query["school_id"] = parse_object_id(school_id, what="School")
    schools = [s for s in school_ids if "school_id" not in query or s == query["school_id"]]
    if user.role == Role.admin:
        return await repository.newest_first(
            {"school_id": {"$in": schools}}, limit=limit, cursor=cursor
        )
    after = newest_first_filter("created_at", cursor)
    authored: list[Announcement] = []
    if user.role == Role.teacher:  # students and parents never write one
        page = {"$and": [query, after]} if after else query
        authored = await repository.newest_authored(page, user.id, limit=limit + 1)
    received: list[Announcement] = []
    if schools:
        # Addressed to them: they were notified, in the inbox or by email only. Their own
        # schools' announcements newest first (the school_newest index), each kept when its
        # event notified this user (one indexed lookup per announcement, on the
        # notification's event key and recipient), until the page is full: the work is
        # bounded by their schools' announcements and the page, and someone with no school
        # costs no query at all.
        in_schools = {"school_id": {"$in": schools}}
        received = await repository.newest_kept(
            {"$and": [in_schools, after]} if after else in_schools,
            notifications.notified_stages(recipient_id=user.id, event_key_field="_event_key"),
            limit=limit + 1,
        )
    both = {a.id: a for a in [*authored, *received]}.values()
    newest = sorted(both, key=lambda a: (as_utc(a.created_at), a.id), reverse=True)
    return next_cursor(newest[: limit + 1], limit, "created_at")


def announcement_email_scope(announcement: Announcement) -> dict[str, Any]:
    """The emails of an announcement its author or a school admin may see."""
    return {"source_id": announcement.id}
