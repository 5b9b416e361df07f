"""Signed one-click unsubscribe links (RFC 8058): verifiable without a database lookup.

A link is signed for one user and the topics the email was about (one for an immediate
email, those of its items for a digest); following it turns their email off.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from beanie import PydanticObjectId
from bson.errors import InvalidId
from jose import JWTError, jwt

from app.core.config import Settings
from app.core.errors import BadRequest
from app.core.security import JWT_ALGORITHM
from app.notifications.models import SUBSCRIBABLE_TOPICS, Topic

TOKEN_TYPE = "unsubscribe"
UNSUBSCRIBE_PATH = "/api/v1/unsubscribe"


def unsubscribe_token(
    *, settings: Settings, user_id: PydanticObjectId, topics: Sequence[Topic]
) -> str:
    claims = {
        "sub": str(user_id),
        "topics": sorted({t.value for t in topics}),
        "type": TOKEN_TYPE,
    }
    return jwt.encode(claims, settings.secret, algorithm=JWT_ALGORITHM)


def unsubscribe_url(
    *, settings: Settings, user_id: PydanticObjectId, topics: Sequence[Topic]
) -> str:
    token = unsubscribe_token(settings=settings, user_id=user_id, topics=topics)
    query = urlencode({"token": token})
    return f"{settings.public_base_url.rstrip('/')}{UNSUBSCRIBE_PATH}?{query}"


def unsubscribe_headers(url: str) -> dict[str, str]:
    return {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def read_token(*, settings: Settings, token: str) -> tuple[PydanticObjectId, list[Topic]]:
    """The user and topics a link was signed for; 400 when tampered with or malformed."""
    try:
        claims = jwt.decode(token, settings.secret, algorithms=[JWT_ALGORITHM])
        if claims.get("type") != TOKEN_TYPE:
            raise ValueError("not an unsubscribe token")
        topics = [Topic(value) for value in claims["topics"]]
        if not topics or any(topic not in SUBSCRIBABLE_TOPICS for topic in topics):
            raise ValueError("not email topics")
        return PydanticObjectId(claims["sub"]), topics
    except (JWTError, ValueError, KeyError, TypeError, InvalidId) as exc:
        raise BadRequest("This unsubscribe link is invalid or has been altered") from exc
