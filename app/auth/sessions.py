"""Login sessions: a password opens one, refresh tokens rotate inside it, logout ends it."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from beanie import PydanticObjectId

from app.auth import repository, user_cache
from app.auth.models import (
    AuthSession,
    RefreshToken,
    User,
    normalize_email,
)
from app.auth.schemas import (
    MAX_EMAIL_LENGTH,
    MAX_PASSWORD_LENGTH,
    TokenPair,
)
from app.core.config import Settings
from app.core.errors import Unauthorized
from app.core.security import (
    create_access_token,
    hash_token,
    new_opaque_token,
    utcnow,
    verify_password_async,
)

log = logging.getLogger(__name__)

# The bearer scheme's description in /openapi.json: what a client team must know to keep a
# person logged in. Each sentence is checked by tests/auth/test_refresh_flow.py.
FLOW_DESCRIPTION = """\
Log in with `POST /api/v1/auth/login` (form fields `username`, the email, and `password`)
for a token pair. Send `access_token` as `Authorization: Bearer <token>`; it lasts
`expires_in` seconds: 15 minutes (ACCESS_TOKEN_MINUTES), then requests answer 401.

To go on, send `refresh_token` to `POST /api/v1/auth/refresh` (JSON
`{"refresh_token": ...}`): the answer is a new pair, and the refresh token sent is spent.
Keep only the newest refresh token. Each lasts 30 days (REFRESH_TOKEN_DAYS) from when it
was issued and works once.

A spent refresh token presented again, whether a copy someone else kept or the same token
sent twice at once (two tabs refreshing together), answers 401 and ends its login session:
the pair handed out for it stops working too, and the person logs in again. So refresh
once at a time. An unknown or expired refresh token answers 401 and ends nothing.

`POST /api/v1/auth/logout` with the refresh token ends that session, its access tokens
included, at once; the person's other sessions (other devices) go on. A new password or a
password reset ends every session."""

INVALID_CREDENTIALS = "Incorrect email or password"
INVALID_REFRESH = "Invalid or expired refresh token"


async def _issue_pair(
    *, settings: Settings, user_id: PydanticObjectId, session_id: PydanticObjectId
) -> TokenPair:
    refresh_token = new_opaque_token()
    await RefreshToken(
        token_hash=hash_token(refresh_token),
        session_id=session_id,
        user_id=user_id,
        expires_at=utcnow() + timedelta(days=settings.refresh_token_days),
    ).insert()
    access_token, expires_in = create_access_token(
        user_id=str(user_id),
        secret=settings.secret,
        minutes=settings.access_token_minutes,
        session_id=str(session_id),
    )
    return TokenPair(access_token=access_token, refresh_token=refresh_token, expires_in=expires_in)


async def _revoke_session(session_id: PydanticObjectId, *, now: datetime | None = None) -> None:
    await repository.revoke_session(session_id, now or utcnow())
    await user_cache.forget_session(session_id)


async def end_every_session(user_id: PydanticObjectId, now: datetime) -> None:
    """Refresh tokens die with their sessions; access tokens die by `tokens_valid_after`."""
    await repository.update_user({"_id": user_id}, {"$set": {"tokens_valid_after": now}})
    await repository.revoke_sessions_of(user_id, now)
    await user_cache.forget_user(user_id)


async def load_caller(user_id: PydanticObjectId, session_id: str | None) -> User | None:
    """The user an access token names, in one round trip; None when the token's session
    has ended (logged out, or revoked with every other session of the user)."""
    if session_id is None:
        # Tokens minted before sessions were named in them.
        return await User.get(user_id)
    if not PydanticObjectId.is_valid(session_id):
        return None
    return await repository.user_in_session(PydanticObjectId(session_id), user_id)


async def login(*, settings: Settings, email: str, password: str) -> TokenPair:
    """Check the password and open a new session with its first token pair."""
    user = await authenticate(email=email, password=password)
    assert user.id is not None
    session = AuthSession(user_id=user.id)
    await session.insert()
    assert session.id is not None
    return await _issue_pair(settings=settings, user_id=user.id, session_id=session.id)


async def authenticate(*, email: str, password: str) -> User:
    """The live account with this email and password, or Unauthorized."""
    user = None
    if len(email) <= MAX_EMAIL_LENGTH:
        user = await User.find_one({"email": normalize_email(email)})
    password = password[: MAX_PASSWORD_LENGTH + 1]
    if user is not None and user.is_deleted:
        user = None
    # Checked against a dummy hash when there is no account, so timing tells nothing.
    matches = await verify_password_async(password, user.password_hash if user else None)
    if user is None or not matches:
        raise Unauthorized(INVALID_CREDENTIALS)
    return user


async def refresh(*, settings: Settings, refresh_token: str) -> TokenPair:
    """Spend a refresh token for a new pair; a spent one presented again ends its session."""
    now = utcnow()
    token_hash = hash_token(refresh_token)
    # One conditional update: of two requests racing with the same token exactly one wins.
    spent = await repository.spend_refresh_token(token_hash, now)
    if spent is None:
        presented = await RefreshToken.find_one({"token_hash": token_hash})
        if presented is not None and presented.spent_at is not None:
            # Someone else holds a copy of this token; neither copy may keep the session.
            log.warning("refresh token reused; revoking session %s", presented.session_id)
            await _revoke_session(presented.session_id, now=now)
        raise Unauthorized(INVALID_REFRESH)
    session = await AuthSession.get(spent.session_id)
    if session is None or session.revoked_at is not None:
        raise Unauthorized(INVALID_REFRESH)
    user = await User.get(spent.user_id)
    if user is None or user.is_deleted or user.id is None or session.id is None:
        raise Unauthorized(INVALID_REFRESH)
    return await _issue_pair(settings=settings, user_id=user.id, session_id=session.id)


async def logout(*, refresh_token: str) -> None:
    """End the session the refresh token belongs to; unknown tokens are ignored."""
    token = await RefreshToken.find_one({"token_hash": hash_token(refresh_token)})
    if token is not None:
        await _revoke_session(token.session_id)
