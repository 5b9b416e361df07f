"""Announcements, their delivery figures and their emails."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.announcements import acknowledgements, listing, service
from app.announcements.access import (
    AnnouncementWithEmails,
    ManagedAnnouncement,
    MemberAnnouncement,
    NewAnnouncement,
    ReaderSchools,
)
from app.announcements.schemas import (
    AcknowledgedOut,
    AcksPage,
    AnnouncementEmailOut,
    AnnouncementOut,
    PendingOut,
)
from app.auth.access import CurrentUser
from app.core.errors import Conflict
from app.core.i18n import translate
from app.core.openapi import ERROR_DESCRIPTIONS
from app.core.pagination import Page, PageParams, page_params
from app.core.spreadsheets import MEDIA_TYPES, SpreadsheetKind, spreadsheet_response
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
    operation_id="createAnnouncement",
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


@router.get("/announcements", operation_id="listAnnouncements")
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


@router.get("/announcements/{announcement_id}", operation_id="getAnnouncement")
async def get_announcement(announcement: ManagedAnnouncement) -> AnnouncementOut:
    """One announcement with its delivery figures (school admins, and the author while
    teaching one of its classes)."""
    stats, author = await asyncio.gather(
        service.get_announcement(announcement=announcement), listing.author_name(announcement)
    )
    return AnnouncementOut.of(announcement, stats, author)


@router.delete(
    "/announcements/{announcement_id}",
    operation_id="cancelAnnouncement",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def cancel_announcement(announcement: ManagedAnnouncement) -> None:
    """Cancel a scheduled announcement."""
    await service.cancel_announcement(announcement=announcement)


@router.get(
    "/announcements/{announcement_id}/emails",
    operation_id="listAnnouncementEmails",
    tags=["delivery"],
)
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


@router.post(
    "/announcements/{announcement_id}/ack",
    operation_id="acknowledgeAnnouncement",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "It does not ask for acknowledgement, or is not out yet"}},
)
async def acknowledge(announcement: MemberAnnouncement, user: CurrentUser) -> None:
    """Confirm you have read an announcement that asked you to; again changes nothing."""
    await acknowledgements.acknowledge(announcement=announcement, user=user)


@router.get(
    "/announcements/{announcement_id}/acks",
    operation_id="listAcknowledgements",
    responses={409: {"description": "It does not ask for acknowledgement"}},
)
async def list_acks(announcement: ManagedAnnouncement, paging: Paging) -> AcksPage:
    """Who was asked to acknowledge it, split into those who have and those who have not
    (school admins, and the author while teaching one of its classes)."""
    if not announcement.requires_ack:
        raise Conflict("This announcement does not ask for acknowledgement")
    rows, cursor = await acknowledgements.acks_page(
        announcement=announcement, limit=paging.limit, cursor=paging.cursor
    )
    return AcksPage(
        acknowledged=[
            AcknowledgedOut(user_id=str(r.user_id), full_name=r.full_name, at=r.at)
            for r in rows
            if r.at is not None
        ],
        pending=[
            PendingOut(user_id=str(r.user_id), full_name=r.full_name) for r in rows if r.at is None
        ],
        next_cursor=cursor,
    )


@router.get(
    "/announcements/{announcement_id}/acks.{kind}",
    operation_id="exportAcknowledgements",
    response_class=Response,
    responses={
        200: {
            "description": "The list as a file: name, class, child, answer, time",
            "content": {MEDIA_TYPES["csv"]: {}, MEDIA_TYPES["xlsx"]: {}},
        },
        409: {"description": "It does not ask for acknowledgement"},
    },
)
async def export_acks(
    announcement: ManagedAnnouncement, user: CurrentUser, kind: SpreadsheetKind
) -> Response:
    """The acknowledgement list as CSV (UTF-8 with a BOM) or XLSX, in your language and
    time zone (school admins, and the author while teaching one of its classes)."""
    if not announcement.requires_ack:
        raise Conflict("This announcement does not ask for acknowledgement")
    header, rows = await acknowledgements.export_rows(announcement=announcement, reader=user)
    sheet = translate(user.locale.value, "acks.sheet")
    return spreadsheet_response(
        kind, acknowledgements.export_name(announcement, sheet), header, rows, sheet=sheet
    )


@router.post(
    "/announcements/{announcement_id}/remind",
    operation_id="remindUnacknowledged",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    responses={
        409: {"description": "It does not ask for acknowledgement, or is not out yet"},
        429: {"description": "Reminded less than an hour ago (see Retry-After)"},
    },
)
async def remind(announcement: ManagedAnnouncement) -> Response:
    """Remind everyone who has not acknowledged it yet: at most once an hour."""
    await acknowledgements.remind(announcement=announcement)
    return Response(status_code=status.HTTP_202_ACCEPTED)
