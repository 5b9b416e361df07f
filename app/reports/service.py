"""Figures over an admin's schools, composed from the domains that own each of them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from app.auth import directory
from app.auth.models import Role, User
from app.core.security import utcnow
from app.delivery import service as delivery
from app.notifications import service as notifications
from app.reports.schemas import EmailFigures, NotificationFigures, Stats
from app.schools import guardians
from app.schools import service as schools


async def school_stats(*, admin: User, now: datetime | None = None) -> Stats:
    """Figures over the admin's schools: subscribers, users by role, the last day's traffic."""
    now = now or utcnow()
    since = now - timedelta(hours=24)
    school_ids = list(admin.school_ids)
    # One round trip over the admin's schools: each branch is written by the domain that
    # owns its collection; composing them is this layer's job, the only one that needs
    # every figure at once.
    figures = await schools.figures_of(
        school_ids,
        {
            "roles": directory.members_by_role_stages(),
            # Parents belong to a school through their children.
            "parents": guardians.linked_parent_count_stages(),
            "subscribers": notifications.subscriber_count_stages(),
            "notifications": notifications.recent_notification_stages(since=since),
            "emails": delivery.email_count_stages(key_field="school_id", since=since),
        },
    )
    by_role = directory.counts_by_role(figures["roles"])
    by_role[Role.parent.value] = _count(figures["parents"])
    by_topic: dict[str, int] = {}
    total = read = 0
    for row in figures["notifications"]:
        by_topic[row["_id"]] = row["count"]
        total += row["count"]
        read += row["read"]
    return Stats(
        school_ids=[str(s) for s in school_ids],
        active_subscribers=_count(figures["subscribers"]),
        users_by_role=by_role,
        notifications_last_24h=NotificationFigures(
            total=total, read=read, unread=total - read, by_topic=by_topic
        ),
        emails_last_24h=EmailFigures(**delivery.counts_by_status(figures["emails"])),
    )


def _count(rows: list[dict[str, Any]]) -> int:
    # A $count stage over nothing gives no row at all.
    return int(rows[0]["count"]) if rows else 0
