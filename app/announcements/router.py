"""Announcements, their delivery figures and their emails."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from app.announcements import listing, service
from app.announcements.access import (
    AnnouncementWithEmails,
    ManagedAnnouncement,
    NewAnnouncement,
    ReaderSchools,
)
from app.announcements.schemas import AnnouncementEmailOut, AnnouncementOut
from app.auth.access import CurrentUser
from app.core.openapi import ERROR_DESCRIPTIONS
from app.core.pagination import Page, PageParams, page_params
from app.delivery import service as delivery
from app.delivery.models import EmailStatus

router = APIRouter(tags=["announcements"])
Paging = Annotated[PageParams, Depends(page_params)]
Statuses = Annotated[
    list[EmailStatus] | None,
    Query(alias="status", description="Repeat for several; failed and dead when omitted"),
]


@router.post(
    "/announcements",
    status_code=status.HTTP_202_ACCEPTED,
    # The school (404) and the rate limit (429) are checked in access.posting, whose
    # source the OpenAPI tidier does not read: declared here so the docs keep them.
    responses={
        404: {"description": ERROR_DESCRIPTIONS[404]},
        409: {"description": "Idempotency-Key reused with a different body"},
        429: {"description": ERROR_DESCRIPTIONS[429]},
    },
)
async def post_announcement(posting: NewAnnouncement) -> AnnouncementOut:
    """Announce to a school, some classes and/or some roles, now or at `publish_at`."""
    # A replay answers for the same author: the key is theirs.
    if posting.replay is not None:
        return AnnouncementOut.of(posting.replay, author_name=posting.author.full_name)
    assert posting.audience is not None
    announcement = await service.create_announcement(
        author=posting.author,
        audience=posting.audience,
        body=posting.body,
        idempotency_key=posting.idempotency_key,
    )
    return AnnouncementOut.of(announcement, author_name=posting.author.full_name)


@router.get("/announcements")
async def list_announcements(
    user: CurrentUser,
    schools: ReaderSchools,
    paging: Paging,
    school_id: Annotated[
        str | None, Query(max_length=64, description="Only this school's announcements")
    ] = None,
) -> Page[AnnouncementOut]:
    """Announcements you manage or that were addressed to you, newest first."""
    rows, cursor = await service.list_announcements(
        user=user,
        school_ids=schools,
        school_id=school_id,
        limit=paging.limit,
        cursor=paging.cursor,
    )
    view = await listing.list_view(user=user, announcements=rows)
    return Page(
        items=[
            AnnouncementOut.of(a, view.stats_of(a), view.authors.get(a.author_id)) for a in rows
        ],
        next_cursor=cursor,
    )


@router.get("/announcements/{announcement_id}")
async def get_announcement(announcement: ManagedAnnouncement) -> AnnouncementOut:
    """One announcement with its delivery figures (school admins, and the author while
    teaching one of its classes)."""
    stats, author = await asyncio.gather(
        service.get_announcement(announcement=announcement), listing.author_name(announcement)
    )
    return AnnouncementOut.of(announcement, stats, author)


@router.delete("/announcements/{announcement_id}", status_code=status.HTTP_204_NO_CONTENT)
async def cancel_announcement(announcement: ManagedAnnouncement) -> None:
    """Cancel a scheduled announcement."""
    await service.cancel_announcement(announcement=announcement)


@router.get("/announcements/{announcement_id}/emails", tags=["delivery"])
async def list_announcement_emails(
    announcement: AnnouncementWithEmails, paging: Paging, statuses: Statuses = None
) -> Page[AnnouncementEmailOut]:
    """An announcement's emails in the given statuses (all when omitted), newest first: for
    the school's admins (teachers read the counts in the announcement's `stats`)."""
    scope = service.announcement_email_scope(announcement)
    rows, cursor = await delivery.list_emails(
        scope=scope,
        statuses=statuses or list(EmailStatus),
        limit=paging.limit,
        cursor=paging.cursor,
    )
    return Page(items=[AnnouncementEmailOut.of(e) for e in rows], next_cursor=cursor)
