"""What a list of announcements shows beside each: its author's name, and its delivery
figures to those who may read them (the school's admins, the author while still teaching
one of its classes), in a fixed number of round trips whatever the page's length."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from beanie import PydanticObjectId

from app.announcements import acknowledgements, repository
from app.announcements.models import Announcement
from app.announcements.schemas import AnnouncementStats
from app.auth import directory
from app.auth.models import Role, User
from app.delivery import service as delivery
from app.delivery.models import EmailStatus
from app.notifications import service as notifications
from app.schools import finding
from app.schools.access import is_school_admin


@dataclass(frozen=True)
class ListView:
    authors: dict[PydanticObjectId, str]
    stats: dict[PydanticObjectId, AnnouncementStats]

    def stats_of(self, announcement: Announcement) -> AnnouncementStats | None:
        return self.stats.get(announcement.id) if announcement.id is not None else None


async def list_view(*, user: User, announcements: Sequence[Announcement]) -> ListView:
    """Authors' names for every announcement; figures for those the reader manages."""
    if not announcements:
        return ListView(authors={}, stats={})
    authors, taught = await asyncio.gather(
        directory.full_names(list({a.author_id for a in announcements})),
        _classes_taught(user),
    )
    managed = [a for a in announcements if _manages(user, a, taught)]
    return ListView(authors=authors, stats=await stats_of(managed))


async def author_name(announcement: Announcement) -> str | None:
    return (await directory.full_names([announcement.author_id])).get(announcement.author_id)


async def _classes_taught(user: User) -> set[PydanticObjectId]:
    if user.role != Role.teacher:
        return set()  # only a teacher's authorship depends on what they teach now
    return {c.class_id for c in await finding.classes_of(user)}


def _manages(user: User, announcement: Announcement, taught: set[PydanticObjectId]) -> bool:
    # As managed_announcement decides for one: rights follow current relations.
    if is_school_admin(user, announcement.school_id):
        return True
    return (
        user.role == Role.teacher
        and announcement.author_id == user.id
        and bool(taught & set(announcement.class_ids))
    )


async def stats_of(
    announcements: Sequence[Announcement],
) -> dict[PydanticObjectId, AnnouncementStats]:
    """Each announcement's delivery figures, all in one round trip: two branches of one
    aggregation per announcement, each anchored on that announcement alone."""
    if not announcements:
        return {}
    branches: dict[str, list[dict[str, Any]]] = {}
    for number, announcement in enumerate(announcements):
        only = {"$match": {"_id": announcement.id}}
        branches[f"n{number}"] = [only, *notifications.event_figure_stages(announcement.event_key)]
        branches[f"e{number}"] = [only, *delivery.email_count_stages(key_field="source_id")]
        if announcement.requires_ack:
            branches[f"a{number}"] = [only, *repository.ack_count_stages()]
    figures = await repository.figures_of([a.id for a in announcements], branches)
    return {
        a.id: stats_from(a, figures[f"n{number}"], figures[f"e{number}"], figures.get(f"a{number}"))
        for number, a in enumerate(announcements)
        if a.id is not None
    }


def stats_from(
    announcement: Announcement,
    notification_rows: list[dict[str, Any]],
    email_rows: list[dict[str, Any]],
    ack_rows: list[dict[str, Any]] | None = None,
) -> AnnouncementStats:
    """Figures from an announcement's rows; acknowledgements only when it asks for them."""
    reads = notification_rows[0] if notification_rows else {"in_app": 0, "read": 0}
    emails = delivery.counts_by_status(email_rows)
    acks = acknowledgements.ack_figures(ack_rows) if ack_rows is not None else None
    return AnnouncementStats(
        acknowledged=acks.acknowledged if acks else None,
        pending=acks.pending if acks else None,
        recipients=announcement.recipients,
        in_app=reads["in_app"],
        read=reads["read"],
        email_sent=emails[EmailStatus.sent],
        email_failed=emails[EmailStatus.failed] + emails[EmailStatus.dead],
        email_pending=emails[EmailStatus.pending] + emails[EmailStatus.sending],
    )
