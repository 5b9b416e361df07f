"""Each person's calendar feed: a signed, revocable link to the events they may see."""

from __future__ import annotations

from datetime import timedelta

from app.auth import service as accounts
from app.auth.models import User
from app.core.config import Settings
from app.core.errors import NotFound
from app.core.page_tokens import InvalidPageToken
from app.core.security import utcnow
from app.events import links, repository
from app.events.ics import calendar_of
from app.events.service import visible_query

# A feed shows what is coming and the recent past, not every event since the school began.
FEED_PAST = timedelta(days=90)
FEED_LIMIT = 500


async def feed_url(*, settings: Settings, user: User) -> str:
    """The person's feed link (made on first asking; the same link every time after)."""
    assert user.id is not None
    feed = await repository.feed_of(user.id) or await repository.new_feed(user.id)
    return links.calendar_url(
        settings=settings, user_id=user.id, version=feed.version, issued_at=feed.issued_at
    )


async def new_feed_url(*, settings: Settings, user: User) -> str:
    """A new feed link; every older one stops working."""
    assert user.id is not None
    feed = await repository.new_feed(user.id)
    return links.calendar_url(
        settings=settings, user_id=user.id, version=feed.version, issued_at=feed.issued_at
    )


async def feed_for(*, settings: Settings, token: str) -> bytes:
    """The calendar a feed link shows; NotFound for a forged, revoked or orphaned link (a
    calendar app shows nothing rather than someone else's)."""
    try:
        user_id, version = links.read_calendar_token(settings=settings, token=token)
    except InvalidPageToken:
        raise NotFound("Calendar not found") from None
    feed = await repository.feed_of(user_id)
    if feed is None or feed.version != version:
        raise NotFound("Calendar not found")
    user = await accounts.get_live_user(user_id)
    if user is None:
        raise NotFound("Calendar not found")
    query = await visible_query(user)
    events = (
        await repository.starting_from(query, since=utcnow() - FEED_PAST, limit=FEED_LIMIT)
        if query is not None
        else []
    )
    return calendar_of(events)
