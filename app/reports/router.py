"""The figures over an admin's schools and their email lists: work that spans domains."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from app.auth.access import AdminUser
from app.core.db import parse_object_id
from app.core.pagination import Page, PageParams, page_params
from app.delivery import service as delivery
from app.delivery.models import EmailStatus
from app.delivery.schemas import Requeued
from app.reports import access, service
from app.reports.schemas import ReportedEmailOut, Stats

router = APIRouter()
Paging = Annotated[PageParams, Depends(page_params)]
Statuses = Annotated[
    list[EmailStatus] | None,
    Query(alias="status", description="Repeat for several; failed and dead when omitted"),
]
SchoolFilter = Annotated[
    str | None, Query(max_length=64, description="One of your schools; all of them when omitted")
]
TROUBLE = [EmailStatus.failed, EmailStatus.dead]


@router.get("/stats", operation_id="getStats", tags=["figures"])
async def get_stats(admin: AdminUser) -> Stats:
    """Figures over your schools: subscribers, users by role, the last 24 hours' traffic."""
    return await service.school_stats(admin=admin)


@router.get("/emails", operation_id="listEmails", tags=["delivery"])
async def list_emails(
    admin: AdminUser, paging: Paging, statuses: Statuses = None, school_id: SchoolFilter = None
) -> Page[ReportedEmailOut]:
    """Your schools' emails that failed (a retry is due) or are dead (given up), newest
    first, with the last error and the attempts made."""
    rows, cursor = await delivery.list_emails(
        scope=access.email_scope(admin=admin, school_id=school_id),
        statuses=statuses or TROUBLE,
        limit=paging.limit,
        cursor=paging.cursor,
    )
    return Page(items=[ReportedEmailOut.of(e) for e in rows], next_cursor=cursor)


@router.post(
    "/emails/retry",
    operation_id="retryEmails",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["delivery"],
    responses={404: {"description": "Not one of your schools"}},
)
async def retry_emails(
    admin: AdminUser, statuses: Statuses = None, school_id: SchoolFilter = None
) -> Requeued:
    """Send all your schools' failed and dead emails (or those in `status`) again, now."""
    requeued = await delivery.retry_emails(
        scope=access.email_scope(admin=admin, school_id=school_id), statuses=statuses or TROUBLE
    )
    return Requeued(requeued=requeued)


@router.post(
    "/emails/{email_id}/retry",
    operation_id="retryEmail",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["delivery"],
    responses={404: {"description": "No such email in your schools"}, 409: {}},
)
async def retry_email(admin: AdminUser, email_id: str) -> ReportedEmailOut:
    """Send one failed or dead email of your schools again, now."""
    email = await delivery.retry_email(
        email_id=parse_object_id(email_id, what="Email"),
        scope=access.email_scope(admin=admin, school_id=None),
    )
    return ReportedEmailOut.of(email)
