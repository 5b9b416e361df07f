"""The notice an announcement sends: when it goes out, and again as a reminder to those who
have not acknowledged it."""

from __future__ import annotations

from collections.abc import Sequence

from beanie import PydanticObjectId

from app.announcements import topic
from app.announcements.models import Announcement, acknowledging_roles
from app.auth import directory
from app.notifications.models import Notice
from app.schools.models import School


def ack_roles(announcement: Announcement) -> list[str]:
    """The roles asked to acknowledge it (none when it asks nothing)."""
    if not announcement.requires_ack:
        return []
    return sorted(role.value for role in acknowledging_roles(announcement.roles))


async def announcement_notice(
    announcement: Announcement,
    *,
    school: School,
    recipients: Sequence[PydanticObjectId],
    reminder: str | None = None,
) -> Notice:
    """The notice of `announcement` to `recipients`; a `reminder` (its own key, so each
    reminder reaches a person once) is not counted in the announcement's figures."""
    author_name = (await directory.full_names([announcement.author_id])).get(announcement.author_id)
    return Notice(
        key=f"{announcement.event_key}:reminder:{reminder}" if reminder else announcement.event_key,
        topic=topic.NAME,
        title=announcement.title,
        body=announcement.body,
        priority=announcement.priority,
        school_id=announcement.school_id,
        actor_id=announcement.author_id,
        # The figures count emails by source: the first sending's only.
        source_id=None if reminder else announcement.id,
        recipients=list(recipients),
        payload=topic.AnnouncementPayload(
            announcement_id=str(announcement.id),
            school_id=str(announcement.school_id),
            school_name=school.name,
            author_name=author_name,
            requires_ack=announcement.requires_ack,
            ack_roles=ack_roles(announcement),
            reminder=reminder is not None,
        ),
    )
