"""Who is calling: the bearer token's user, and the roles a route admits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from app.auth import sessions, user_cache
from app.auth.models import Role, User
from app.core.db import parse_object_id
from app.core.deps import SettingsDep
from app.core.errors import Forbidden, Unauthorized
from app.core.logs import note_user
from app.core.security import as_utc, decode_access_token

# The login route takes the OAuth2 password form, so Swagger's Authorize button works as is.
oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/api/v1/auth/login", auto_error=False, description=sessions.FLOW_DESCRIPTION
)


# Methods that change nothing: they may be answered with a user remembered for a few
# seconds (see user_cache); every other request is made from the stored user.
CACHED_METHODS = frozenset({"GET", "HEAD"})


async def get_current_user(
    request: Request, settings: SettingsDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> User:
    if not token:
        raise Unauthorized()
    claims = decode_access_token(token, secret=settings.secret)
    try:
        user_id = parse_object_id(claims["sub"])
    except Exception as exc:
        raise Unauthorized("Invalid access token") from exc
    session_id = claims.get("sid") if isinstance(claims.get("sid"), str) else None
    user = user_cache.recall(user_id, session_id) if request.method in CACHED_METHODS else None
    if user is None:
        user = await sessions.load_caller(user_id, session_id)
        if user is None and session_id is not None:
            raise Unauthorized("Session ended, log in again")
        if user is not None:
            user_cache.remember(user, session_id)
    if user is None or user.is_deleted:
        raise Unauthorized("Account not found or deleted")
    if (
        user.tokens_valid_after is not None
        and float(claims.get("iat", 0)) < as_utc(user.tokens_valid_after).timestamp()
    ):
        raise Unauthorized("Session ended, log in again")
    note_user(user.id)
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_role(*roles: Role) -> Callable[[User], Awaitable[User]]:
    allowed = set(roles)

    async def dependency(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise Forbidden(f"Only {', '.join(sorted(r.value for r in allowed))} may do this")
        return user

    return dependency


AdminUser = Annotated[User, Depends(require_role(Role.admin))]
ParentUser = Annotated[User, Depends(require_role(Role.parent))]
