"""Who may announce to which audience, and who may see and manage an announcement.

The routes take these as dependencies; the service receives what they let through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from beanie import PydanticObjectId
from fastapi import Depends, Header, Request

from app.announcements import service
from app.announcements.models import Announcement
from app.announcements.schemas import AnnouncementIn
from app.auth.access import CurrentUser
from app.auth.models import Role, User
from app.core.db import parse_object_id
from app.core.errors import Forbidden, NotFound
from app.core.ratelimit import enforce
from app.notifications.preferences import Priority
from app.schools.access import (
    class_audience,
    is_school_admin,
    load_school,
    schools_of,
    teaches_a_class_of,
)
from app.schools.models import School

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Repeat a request safely: the same key and body return the first result",
    ),
]


def check_audience(author: User, school: School, body: AnnouncementIn) -> service.Audience:
    """The school and classes `body` addresses, if `author` may announce to them."""
    class_ids = class_audience(
        author,
        school,
        body.class_ids,
        not_staff="Only the school's admins and teachers may announce",
        no_classes="Teachers announce to their own classes: give class_ids",
        # Critical overrides every opt-out and quiet hours: the school's call, not a class's.
        teacher_refusal=(
            "Only the school's admins may post critical announcements"
            if body.priority == Priority.critical
            else None
        ),
    )
    return service.Audience(school=school, class_ids=class_ids)


@dataclass(frozen=True)
class Posting:
    """A POST /announcements let through: the first result of an earlier request with the
    same Idempotency-Key, or the audience the author may address."""

    author: User
    body: AnnouncementIn
    idempotency_key: str | None
    replay: Announcement | None = None
    audience: service.Audience | None = None


async def posting(
    request: Request,
    user: CurrentUser,
    body: AnnouncementIn,
    idempotency_key: IdempotencyKey = None,
) -> Posting:
    """Checked in the order the answers have always come: a replay is answered as such
    (and not counted), then the author's rate limit, then the school (404), its classes
    (422) and whether the author may address them (403)."""
    replay = await service.find_replay(author=user, idempotency_key=idempotency_key, body=body)
    if replay is not None:
        return Posting(author=user, body=body, idempotency_key=idempotency_key, replay=replay)
    settings = request.app.state.settings
    await enforce(request, settings.announcement_rate, "announce", str(user.id))
    school = await load_school(str(body.school_id))
    return Posting(
        author=user,
        body=body,
        idempotency_key=idempotency_key,
        audience=check_audience(user, school, body),
    )


NewAnnouncement = Annotated[Posting, Depends(posting)]


async def _announcement(announcement_id: str) -> Announcement:
    announcement = await Announcement.get(parse_object_id(announcement_id, what="Announcement"))
    if announcement is None:
        raise NotFound("Announcement not found")
    return announcement


async def managed_announcement(announcement_id: str, user: CurrentUser) -> Announcement:
    """The announcement in the path, if the caller administers its school, or wrote it and
    still teaches one of its classes.

    Rights follow current relations: an author demoted from admin, or taken off the
    classes, keeps no hold on what they sent in that role.
    """
    announcement = await _announcement(announcement_id)
    if is_school_admin(user, announcement.school_id):
        return announcement
    assert user.id is not None
    still_teaching = (
        announcement.author_id == user.id
        and user.role == Role.teacher
        and await teaches_a_class_of(user.id, announcement.school_id, announcement.class_ids)
    )
    if not still_teaching:
        raise Forbidden(
            "Only the school's admins and the author, while teaching its classes, may see this"
        )
    return announcement


async def announcement_with_emails(announcement_id: str, user: CurrentUser) -> Announcement:
    """The announcement in the path, if the caller administers its school: its emails carry
    every recipient's address, which teachers do not see (they see the counts)."""
    announcement = await _announcement(announcement_id)
    if not is_school_admin(user, announcement.school_id):
        raise Forbidden("Only the school's admins see an announcement's emails")
    return announcement


async def reader_schools(user: CurrentUser) -> list[PydanticObjectId]:
    """The schools whose announcements the caller may be shown: an admin's own, anyone
    else's current schools (a parent's are their children's); none for a stranger."""
    return sorted(await schools_of(user))


async def member_announcement(announcement_id: str, user: CurrentUser) -> Announcement:
    """The announcement in the path, if the caller belongs to its school now (a parent
    through a child); whether it asked them to acknowledge it is the service's answer."""
    announcement = await _announcement(announcement_id)
    if announcement.school_id not in await schools_of(user):
        raise Forbidden("This announcement is not for you")
    return announcement


ReaderSchools = Annotated[list[PydanticObjectId], Depends(reader_schools)]
ManagedAnnouncement = Annotated[Announcement, Depends(managed_announcement)]
MemberAnnouncement = Annotated[Announcement, Depends(member_announcement)]
AnnouncementWithEmails = Annotated[Announcement, Depends(announcement_with_emails)]
