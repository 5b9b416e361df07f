"""Password hashing, access JWTs and opaque random tokens."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

from jose import JWTError, jwt

# passlib 1.7.4, the last release, imports the standard library's crypt module (deprecated
# since 3.11) and reads argon2.__version__; neither touches the argon2 hashing used here,
# and an operator should not meet the warnings at every start.
warnings.filterwarnings("ignore", message="'crypt' is deprecated", category=DeprecationWarning)
warnings.filterwarnings(
    "ignore", message="Accessing argon2.__version__", category=DeprecationWarning
)
from passlib.context import CryptContext  # noqa: E402

from app.core.errors import Unauthorized  # noqa: E402

JWT_ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"

# Argon2id with one lane: a hash keeps one core busy, never all of them. 64 MiB and three
# passes are above OWASP's floor for argon2id (19 MiB, t=2, p=1); passlib's own default of
# four lanes made four concurrent logins occupy eight threads on a two-core box.
_password_context = CryptContext(
    schemes=["argon2"],
    deprecated="auto",
    argon2__type="ID",
    argon2__memory_cost=64 * 1024,
    argon2__time_cost=3,
    argon2__parallelism=1,
)

# At most this many hashes run at once in a process, leaving a core to the event loop so
# a burst of logins slows logins, not every other request.
HASHING_SLOTS = max(1, (os.cpu_count() or 1) - 1)
_hashing_slots: asyncio.Semaphore | None = None


def _slots() -> asyncio.Semaphore:
    # Created on first use, inside the running loop, so each process gets its own.
    global _hashing_slots
    if _hashing_slots is None:
        _hashing_slots = asyncio.Semaphore(HASHING_SLOTS)
    return _hashing_slots


def hash_password(password: str) -> str:
    return _password_context.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _password_context.verify(password, password_hash)
    except (ValueError, TypeError):
        return False


# Verifying against a real hash when the account does not exist keeps login
# timing from telling which emails are registered.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def burn_password_check(password: str) -> None:
    verify_password(password, _DUMMY_HASH)


async def hash_password_async(password: str) -> str:
    """Hash in a thread, within the process's hashing slots."""
    async with _slots():
        return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password: str, password_hash: str | None) -> bool:
    """Check a password in a thread, within the hashing slots. Without a hash (no such
    account) it checks against a dummy one, so an unknown email costs what a known one does.
    """
    async with _slots():
        if password_hash is None:
            await asyncio.to_thread(burn_password_check, password)
            return False
        return await asyncio.to_thread(verify_password, password, password_hash)


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Opaque tokens are high-entropy, so a plain SHA-256 is enough to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


def to_millisecond(moment: datetime) -> datetime:
    """MongoDB keeps milliseconds: a time cut to them reads back exactly as it was written."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def utcnow() -> datetime:
    """Now in UTC, to the millisecond, so an answer and a later read of it agree."""
    return to_millisecond(datetime.now(UTC))


def as_utc(moment: datetime) -> datetime:
    """MongoDB drops tzinfo unless the client is tz-aware; treat naive values as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def create_access_token(
    *, user_id: str, secret: str, minutes: int, session_id: str | None = None
) -> tuple[str, int]:
    issued = utcnow()
    expires_in = minutes * 60
    claims: dict[str, Any] = {
        "sub": user_id,
        "type": ACCESS_TOKEN_TYPE,
        # Fractional, so a token issued just after a password reset is told from one before it.
        "iat": issued.timestamp(),
        "exp": int((issued + timedelta(seconds=expires_in)).timestamp()),
    }
    if session_id is not None:
        # The login session it belongs to: logging out of that session ends this token too.
        claims["sid"] = session_id
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM), expires_in


def decode_access_token(token: str, *, secret: str) -> dict[str, Any]:
    try:
        # A token without an expiry would be a credential for ever: every claim we rely on
        # must be there.
        claims = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            options={"require_exp": True, "require_iat": True, "require_sub": True},
        )
    except JWTError as exc:
        raise Unauthorized("Invalid or expired access token") from exc
    if claims.get("type") != ACCESS_TOKEN_TYPE or not isinstance(claims.get("sub"), str):
        raise Unauthorized("Invalid access token")
    return claims
