"""Announcements and delivery figures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, status

from app.announcements import service
from app.announcements.schemas import AnnouncementIn, AnnouncementOut, Stats
from app.core.deps import AdminUser, CurrentUser
from app.core.pagination import Page, PageParams, page_params
from app.core.ratelimit import enforce

router = APIRouter(tags=["announcements"])
Paging = Annotated[PageParams, Depends(page_params)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Repeat a request safely: the same key and body return the first result",
    ),
]


@router.post(
    "/announcements",
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "Idempotency-Key reused with a different body"}},
)
async def post_announcement(
    request: Request,
    user: CurrentUser,
    body: AnnouncementIn,
    idempotency_key: IdempotencyKey = None,
) -> AnnouncementOut:
    """Announce to a school, some classes and/or some roles, now or at `publish_at`."""
    replay = await service.find_replay(author=user, idempotency_key=idempotency_key, body=body)
    if replay is not None:
        return AnnouncementOut.of(replay)
    settings = request.app.state.settings
    await enforce(request, settings.announcement_rate, "announce", str(user.id))
    announcement = await service.create_announcement(
        author=user, body=body, idempotency_key=idempotency_key
    )
    return AnnouncementOut.of(announcement)


@router.get("/announcements")
async def list_announcements(
    user: CurrentUser,
    paging: Paging,
    school_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[AnnouncementOut]:
    """Announcements you manage or that were addressed to you, newest first."""
    rows, cursor = await service.list_announcements(
        user=user, school_id=school_id, limit=paging.limit, cursor=paging.cursor
    )
    return Page(items=[AnnouncementOut.of(a) for a in rows], next_cursor=cursor)


@router.get("/announcements/{announcement_id}")
async def get_announcement(user: CurrentUser, announcement_id: str) -> AnnouncementOut:
    """One announcement with its delivery figures (author and school admins)."""
    announcement, stats = await service.get_announcement(user=user, announcement_id=announcement_id)
    return AnnouncementOut.of(announcement, stats)


@router.delete("/announcements/{announcement_id}", status_code=status.HTTP_204_NO_CONTENT)
async def cancel_announcement(user: CurrentUser, announcement_id: str) -> None:
    """Cancel a scheduled announcement."""
    await service.cancel_announcement(user=user, announcement_id=announcement_id)


@router.get("/stats", tags=["figures"])
async def get_stats(admin: AdminUser) -> Stats:
    """Figures over your schools: subscribers, users by role, the last 24 hours' traffic."""
    return await service.school_stats(admin=admin)
