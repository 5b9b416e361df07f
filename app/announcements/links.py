"""The signed "I have read this" link of an announcement email: bound to one reader, one
announcement and this one purpose, and good for as long as the other links in an email
(60 days, the page rules of product.md section 7)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from beanie import PydanticObjectId
from bson.errors import InvalidId

from app.core.config import Settings
from app.core.page_tokens import InvalidPageToken, PageToken, read_page_token, sign_page_token
from app.core.web import public_url

ACK_PURPOSE = "announcement_ack"
ACK_PATH = "/acknowledge"
LINK_TTL = timedelta(days=60)


@dataclass(frozen=True)
class AckLink:
    """Who an acknowledgement link was signed for, and which announcement it confirms."""

    user_id: PydanticObjectId
    announcement_id: PydanticObjectId
    token: PageToken

    @property
    def expired(self) -> bool:
        return self.token.expired

    def outlived(self, links_valid_after: datetime | None) -> bool:
        """Whether the account's links were ended after this one was mailed."""
        return self.token.signed_before(links_valid_after)


def ack_url(
    *,
    settings: Settings,
    user_id: PydanticObjectId,
    announcement_id: str,
    now: datetime | None = None,
) -> str:
    token = sign_page_token(
        secret=settings.secret,
        user_id=str(user_id),
        purpose=ACK_PURPOSE,
        ttl=LINK_TTL,
        now=now,
        announcement=announcement_id,
    )
    return public_url(settings.public_base_url, ACK_PATH, token=token)


def read_ack_token(*, settings: Settings, token: str) -> AckLink:
    """The reader and announcement of an acknowledgement link; InvalidPageToken if forged."""
    page_token = read_page_token(secret=settings.secret, token=token, purpose=ACK_PURPOSE)
    try:
        user_id = PydanticObjectId(page_token.user_id)
        announcement_id = PydanticObjectId(str(page_token.claims.get("announcement")))
    except (ValueError, TypeError, InvalidId) as exc:
        raise InvalidPageToken(str(exc)) from exc
    return AckLink(user_id=user_id, announcement_id=announcement_id, token=page_token)
