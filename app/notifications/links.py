"""The signed links of notification emails: one-click unsubscribe (RFC 8058) and the
preference centre. Both are verifiable without a database lookup and last 60 days.

An unsubscribe link is signed for one user and the topics the email was about (one for an
immediate email, those of its items for a digest); following it turns their email off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from beanie import PydanticObjectId
from bson.errors import InvalidId

from app.core.config import Settings
from app.core.page_tokens import InvalidPageToken, PageToken, read_page_token, sign_page_token
from app.core.web import public_url
from app.notifications.topics import topics as registry

UNSUBSCRIBE_PURPOSE = "unsubscribe"
PREFERENCES_PURPOSE = "preferences"
LINK_TTL = timedelta(days=60)
# The RFC 8058 endpoint (POST) and the page explaining it (GET) share this path; links
# mailed before the pages existed pointed at the same path under /api/v1.
UNSUBSCRIBE_PATH = "/unsubscribe"
PREFERENCES_PATH = "/preferences"


@dataclass(frozen=True)
class LinkHolder:
    """Whom a link was signed for, what about, and whether it has expired."""

    user_id: PydanticObjectId
    topics: list[str]
    expired: bool
    token: PageToken

    def outlived(self, links_valid_after: datetime | None) -> bool:
        """Whether the account's links were ended after this one was mailed (its address
        changed since): the link then proves only a mailbox that is no longer its."""
        return self.token.signed_before(links_valid_after)


def unsubscribe_token(
    *,
    settings: Settings,
    user_id: PydanticObjectId,
    topics: Sequence[str],
    now: datetime | None = None,
) -> str:
    return sign_page_token(
        secret=settings.secret,
        user_id=str(user_id),
        purpose=UNSUBSCRIBE_PURPOSE,
        ttl=LINK_TTL,
        now=now,
        topics=sorted(set(topics)),
    )


def unsubscribe_url(*, settings: Settings, user_id: PydanticObjectId, topics: Sequence[str]) -> str:
    token = unsubscribe_token(settings=settings, user_id=user_id, topics=topics)
    return public_url(settings.public_base_url, UNSUBSCRIBE_PATH, token=token)


def preferences_token(
    *, settings: Settings, user_id: PydanticObjectId, now: datetime | None = None
) -> str:
    return sign_page_token(
        secret=settings.secret,
        user_id=str(user_id),
        purpose=PREFERENCES_PURPOSE,
        ttl=LINK_TTL,
        now=now,
    )


def preferences_url(*, settings: Settings, user_id: PydanticObjectId) -> str:
    token = preferences_token(settings=settings, user_id=user_id)
    return public_url(settings.public_base_url, PREFERENCES_PATH, token=token)


def unsubscribe_headers(url: str) -> dict[str, str]:
    return {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def _holder(settings: Settings, token: str, purpose: str) -> LinkHolder:
    page_token = read_page_token(secret=settings.secret, token=token, purpose=purpose)
    try:
        topics = [str(value) for value in page_token.claims.get("topics", [])]
        user_id = PydanticObjectId(page_token.user_id)
    except (ValueError, TypeError, InvalidId) as exc:
        raise InvalidPageToken(str(exc)) from exc
    if any(topic not in registry for topic in topics):
        raise InvalidPageToken("not email topics")
    return LinkHolder(user_id=user_id, topics=topics, expired=page_token.expired, token=page_token)


def read_unsubscribe_token(*, settings: Settings, token: str) -> LinkHolder:
    """The user and topics an unsubscribe link was signed for; InvalidPageToken if forged."""
    holder = _holder(settings, token, UNSUBSCRIBE_PURPOSE)
    if not holder.topics:
        raise InvalidPageToken("no topics")
    return holder


def read_preferences_token(*, settings: Settings, token: str) -> LinkHolder:
    """The user a preference-centre link was signed for; InvalidPageToken if forged."""
    return _holder(settings, token, PREFERENCES_PURPOSE)
