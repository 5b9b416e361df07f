"""Signed page links: each token names one user and one purpose, and expires.

A token for one purpose is refused for every other (its `type` claim says the purpose, and
access-token checks accept only `access`). An expired token is still told apart from a
forged one, so a page can say "this link has expired" and offer a new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jose import JWTError, jwt

from app.core.security import JWT_ALGORITHM, as_utc, utcnow

TYPE_PREFIX = "page:"
MAX_TOKEN_LENGTH = 2048


class InvalidPageToken(Exception):
    """Tampered with, malformed, or signed for another purpose."""


@dataclass(frozen=True)
class PageToken:
    user_id: str
    purpose: str
    expired: bool
    claims: dict[str, Any] = field(default_factory=dict)

    def signed_before(self, moment: datetime | None) -> bool:
        """Whether it was signed before `moment` (tokens signed before `iat` was added
        count as signed before anything)."""
        if moment is None:
            return False
        issued = self.claims.get("iat")
        if not isinstance(issued, int | float) or isinstance(issued, bool):
            return True
        return issued < as_utc(moment).timestamp()


def sign_page_token(
    *,
    secret: str,
    user_id: str,
    purpose: str,
    ttl: timedelta,
    now: datetime | None = None,
    **claims: Any,
) -> str:
    issued = now or utcnow()
    payload = {
        **claims,
        "sub": user_id,
        "type": TYPE_PREFIX + purpose,
        # To the microsecond: a link signed just after the account's address changed must
        # not pass for one signed before it.
        "iat": issued.timestamp(),
        "exp": int((issued + ttl).timestamp()),
    }
    return jwt.encode(payload, secret, algorithm=JWT_ALGORITHM)


def read_page_token(
    *, secret: str, token: str, purpose: str, now: datetime | None = None
) -> PageToken:
    """The user a `purpose` token was signed for, and whether it has expired."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidPageToken("no token or an overlong one")
    try:
        # Expiry is checked below, so an expired link can still be told from a forged one.
        claims = jwt.decode(
            token, secret, algorithms=[JWT_ALGORITHM], options={"verify_exp": False}
        )
    except JWTError as exc:
        raise InvalidPageToken(str(exc)) from exc
    user_id, expires = claims.get("sub"), claims.get("exp")
    if claims.get("type") != TYPE_PREFIX + purpose:
        raise InvalidPageToken(f"not a {purpose} token")
    if not isinstance(user_id, str) or not isinstance(expires, int):
        raise InvalidPageToken("no user or no expiry")
    expired = expires <= (now or utcnow()).timestamp()
    return PageToken(user_id=user_id, purpose=purpose, expired=expired, claims=claims)
