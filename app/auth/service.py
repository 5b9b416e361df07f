"""Accounts: registration, login sessions with rotating refresh tokens, mailed tokens, users."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from pymongo import ReturnDocument

from app.auth import hooks
from app.auth.models import (
    AccountToken,
    AccountTokenPurpose,
    AuthSession,
    Locale,
    RefreshToken,
    Role,
    User,
)
from app.auth.schemas import (
    MAX_EMAIL_LENGTH,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    MeUpdateIn,
    TokenPair,
    UserUpdateIn,
)
from app.core.config import Settings
from app.core.db import DuplicateKeyError
from app.core.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from app.core.pagination import PageParams, newest_first_page
from app.core.security import (
    create_access_token,
    hash_password_async,
    hash_token,
    new_opaque_token,
    utcnow,
    verify_password_async,
)
from app.delivery import service as delivery
from app.delivery.models import EmailKind
from app.delivery.render import render

log = logging.getLogger(__name__)

VERIFY_EMAIL_TTL = timedelta(hours=48)
PASSWORD_RESET_TTL = timedelta(minutes=30)
# Roles that only exist inside a school; an admin creating one must name the school.
SCHOOL_BOUND_ROLES = frozenset({Role.teacher, Role.student})

INVALID_CREDENTIALS = "Incorrect email or password"
INVALID_REFRESH = "Invalid or expired refresh token"
EMAIL_TAKEN = "An account with this email already exists"


def normalize_email(email: str) -> str:
    return email.strip().lower()


# --- sessions -------------------------------------------------------------------------


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
        user_id=str(user_id), secret=settings.secret, minutes=settings.access_token_minutes
    )
    return TokenPair(access_token=access_token, refresh_token=refresh_token, expires_in=expires_in)


async def _revoke_sessions(condition: dict[str, Any], *, now: datetime | None = None) -> None:
    await AuthSession.get_motor_collection().update_many(
        {**condition, "revoked_at": None}, {"$set": {"revoked_at": now or utcnow()}}
    )


async def _end_every_session(user_id: PydanticObjectId, now: datetime) -> None:
    """Refresh tokens die with their sessions; access tokens die by `tokens_valid_after`."""
    await User.get_motor_collection().update_one(
        {"_id": user_id}, {"$set": {"tokens_valid_after": now}}
    )
    await _revoke_sessions({"user_id": user_id}, now=now)


async def login(*, settings: Settings, email: str, password: str) -> TokenPair:
    """Check the password and open a new session with its first token pair."""
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
    assert user.id is not None
    session = AuthSession(user_id=user.id)
    await session.insert()
    assert session.id is not None
    return await _issue_pair(settings=settings, user_id=user.id, session_id=session.id)


async def refresh(*, settings: Settings, refresh_token: str) -> TokenPair:
    """Spend a refresh token for a new pair; a spent one presented again ends its session."""
    now = utcnow()
    token_hash = hash_token(refresh_token)
    # One conditional update: of two requests racing with the same token exactly one wins.
    spent = await RefreshToken.get_motor_collection().find_one_and_update(
        {"token_hash": token_hash, "spent_at": None, "expires_at": {"$gt": now}},
        {"$set": {"spent_at": now}},
        return_document=ReturnDocument.BEFORE,
    )
    if spent is None:
        presented = await RefreshToken.find_one({"token_hash": token_hash})
        if presented is not None and presented.spent_at is not None:
            # Someone else holds a copy of this token; neither copy may keep the session.
            log.warning("refresh token reused; revoking session %s", presented.session_id)
            await _revoke_sessions({"_id": presented.session_id}, now=now)
        raise Unauthorized(INVALID_REFRESH)
    session = await AuthSession.get(spent["session_id"])
    if session is None or session.revoked_at is not None:
        raise Unauthorized(INVALID_REFRESH)
    user = await User.get(spent["user_id"])
    if user is None or user.is_deleted or user.id is None or session.id is None:
        raise Unauthorized(INVALID_REFRESH)
    return await _issue_pair(settings=settings, user_id=user.id, session_id=session.id)


async def logout(*, refresh_token: str) -> None:
    """End the session the refresh token belongs to; unknown tokens are ignored."""
    token = await RefreshToken.find_one({"token_hash": hash_token(refresh_token)})
    if token is not None:
        await _revoke_sessions({"_id": token.session_id})


# --- mailed single-use tokens ---------------------------------------------------------


async def _issue_account_token(*, user: User, purpose: AccountTokenPurpose, ttl: timedelta) -> str:
    assert user.id is not None
    token = new_opaque_token()
    await AccountToken(
        token_hash=hash_token(token),
        purpose=purpose,
        user_id=user.id,
        email=user.email,
        expires_at=utcnow() + ttl,
    ).insert()
    return token


INVALID_LINK = "The link is invalid, already used or expired"


async def _redeem_account_token(*, token: str, purpose: AccountTokenPurpose) -> dict[str, Any]:
    """Spend a token; the caller acts only if the account still has the address it proves."""
    now = utcnow()
    redeemed = await AccountToken.get_motor_collection().find_one_and_update(
        {
            "token_hash": hash_token(token),
            "purpose": purpose.value,
            "used_at": None,
            "expires_at": {"$gt": now},
            "email": {"$ne": None},
        },
        {"$set": {"used_at": now}},
    )
    if redeemed is None:
        raise BadRequest(INVALID_LINK)
    return {"_id": redeemed["user_id"], "email": redeemed["email"], "deleted_at": None}


async def _burn_account_tokens(user_id: PydanticObjectId, *purposes: AccountTokenPurpose) -> None:
    await AccountToken.get_motor_collection().update_many(
        {"user_id": user_id, "purpose": {"$in": [p.value for p in purposes]}, "used_at": None},
        {"$set": {"used_at": utcnow()}},
    )


async def _queue_account_mail(*, user: User, template: str, token: str, **context: object) -> None:
    """Account mail ignores preferences and carries no unsubscribe link; like every email
    it is written to the outbox and sent by a worker, so a mail server that is down never
    fails the request that caused it.

    Until the address is verified, anyone could have typed it in, so the mail does not
    repeat the account's name: free text chosen by a stranger never reaches an inbox.
    """
    assert user.id is not None
    rendered = render(
        template,
        user.locale.value,
        full_name=user.full_name if user.email_verified else None,
        code=token,
        unsubscribe_url=None,
        **context,
    )
    await delivery.queue_email(
        delivery.new_email(
            key=f"account:{template}:{hash_token(token)}",
            kind=EmailKind.account,
            to=user.email,
            rendered=rendered,
            recipient_id=user.id,
        )
    )


async def _send_verification(*, settings: Settings, user: User) -> None:
    token = await _issue_account_token(
        user=user, purpose=AccountTokenPurpose.verify_email, ttl=VERIFY_EMAIL_TTL
    )
    link = f"{settings.public_base_url.rstrip('/')}/verify-email?token={token}"
    await _queue_account_mail(user=user, template="verify_email", token=token, link=link)


async def verify_email(*, token: str) -> None:
    """Redeem a verification token and mark the address it was mailed to verified."""
    bound = await _redeem_account_token(token=token, purpose=AccountTokenPurpose.verify_email)
    result = await User.get_motor_collection().update_one(bound, {"$set": {"email_verified": True}})
    if result.matched_count == 0:
        raise BadRequest(INVALID_LINK)


async def send_password_reset(*, settings: Settings, user: User) -> None:
    """Mail the user a single-use link to set a new password."""
    token = await _issue_account_token(
        user=user, purpose=AccountTokenPurpose.password_reset, ttl=PASSWORD_RESET_TTL
    )
    link = f"{settings.public_base_url.rstrip('/')}/reset-password?token={token}"
    minutes = int(PASSWORD_RESET_TTL.total_seconds() // 60)
    await _queue_account_mail(
        user=user, template="password_reset", token=token, link=link, minutes=minutes
    )


async def request_password_reset(*, settings: Settings, email: str) -> None:
    """Mail a reset link when an active account has this email; otherwise do nothing."""
    user = await User.find_one({"email": normalize_email(email), "deleted_at": None})
    if user is None:
        return
    await send_password_reset(settings=settings, user=user)


async def reset_password(*, token: str, new_password: str) -> None:
    """Redeem a reset token, set the new password and end every session of the account."""
    bound = await _redeem_account_token(token=token, purpose=AccountTokenPurpose.password_reset)
    password_hash = await hash_password_async(new_password)
    now = utcnow()
    # The mailbox the token went to answered, and the account still has that address.
    result = await User.get_motor_collection().update_one(
        bound, {"$set": {"password_hash": password_hash, "email_verified": True}}
    )
    if result.matched_count == 0:
        raise BadRequest(INVALID_LINK)
    user_id = PydanticObjectId(bound["_id"])
    await _burn_account_tokens(user_id, AccountTokenPurpose.password_reset)
    await _end_every_session(user_id, now)


# --- users ------------------------------------------------------------------------------


async def _insert_user(user: User) -> User:
    try:
        await user.insert()
    except DuplicateKeyError as exc:
        raise Conflict(EMAIL_TAKEN) from exc
    return user


async def _ensure_email_free(email: str) -> None:
    # Checked before hashing so a taken address costs no Argon2 round; the unique
    # index still decides races.
    if await User.find_one({"email": email}) is not None:
        raise Conflict(EMAIL_TAKEN)


async def register(
    *,
    settings: Settings,
    email: str,
    password: str,
    full_name: str,
    locale: Locale,
    timezone: str,
) -> User:
    """Create a parent account and mail it a verification link."""
    email = normalize_email(email)
    await _ensure_email_free(email)
    user = await _insert_user(
        User(
            email=email,
            full_name=full_name,
            role=Role.parent,
            password_hash=await hash_password_async(password),
            locale=locale,
            timezone=timezone,
        )
    )
    await _send_verification(settings=settings, user=user)
    return user


async def create_admin(*, email: str, password: str, full_name: str = "Administrator") -> User:
    """Create an admin with no school yet (CLI, bootstrap); the operator vouches for the email."""
    email = normalize_email(email)
    if "@" not in email or len(email) > MAX_EMAIL_LENGTH:
        raise Unprocessable("An admin needs a valid email address")
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise Unprocessable(
            f"The admin password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
    await _ensure_email_free(email)
    return await _insert_user(
        User(
            email=email,
            full_name=full_name,
            role=Role.admin,
            password_hash=await hash_password_async(password),
            email_verified=True,
        )
    )


async def ensure_bootstrap_admin(*, settings: Settings) -> None:
    """Create the admin named by BOOTSTRAP_ADMIN_EMAIL/PASSWORD unless that account exists."""
    if not (settings.bootstrap_admin_email and settings.bootstrap_admin_password):
        return
    email = normalize_email(settings.bootstrap_admin_email)
    if await User.find_one({"email": email}) is not None:
        return
    try:
        await create_admin(email=email, password=settings.bootstrap_admin_password)
    except Conflict:
        return  # another API process started at the same moment and created it
    log.info("created bootstrap admin %s", email)


async def update_me(*, settings: Settings, user: User, changes: MeUpdateIn) -> User:
    """Change one's own profile. A new password or email needs the current password; a new
    password ends every session, a new email must be verified again; both spend every link
    mailed before."""
    updates: dict[str, Any] = {}
    if changes.full_name is not None:
        updates["full_name"] = changes.full_name
    if changes.locale is not None:
        updates["locale"] = changes.locale
    if changes.timezone is not None:
        updates["timezone"] = changes.timezone
    new_email = None
    if changes.email is not None and normalize_email(changes.email) != user.email:
        new_email = normalize_email(changes.email)
    if changes.new_password is not None or new_email is not None:
        if changes.current_password is None:
            raise Unprocessable("Send current_password to change your password or email")
    elif changes.current_password is not None:
        raise Unprocessable("Send new_password or email with current_password")
    if changes.current_password is not None and not await verify_password_async(
        changes.current_password, user.password_hash
    ):
        raise Forbidden("The current password is incorrect")
    if new_email is not None:
        await _ensure_email_free(new_email)
        updates["email"] = new_email
        updates["email_verified"] = False
    if changes.new_password is not None:
        updates["password_hash"] = await hash_password_async(changes.new_password)
    credentials_changed = "email" in updates or "password_hash" in updates
    if credentials_changed:
        assert user.id is not None
        # Before the write: a link mailed to the old address, or one a thief asked for
        # before the owner changed the password, must be dead by the time either is new.
        await _burn_account_tokens(
            user.id, AccountTokenPurpose.password_reset, AccountTokenPurpose.verify_email
        )
    user = await _apply(user, updates, end_sessions=changes.new_password is not None)
    if new_email is not None:
        await _send_verification(settings=settings, user=user)
    return user


async def _apply(user: User, updates: dict[str, Any], *, end_sessions: bool = False) -> User:
    assert user.id is not None
    if updates:
        try:
            raw = await User.get_motor_collection().find_one_and_update(
                {"_id": user.id, "deleted_at": None},
                {"$set": updates},
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError as exc:
            raise Conflict(EMAIL_TAKEN) from exc
        if raw is None:
            raise NotFound("User not found")
        previous, user = user, User.model_validate(raw)
        if previous.timezone != user.timezone:
            await hooks.timezone_changed.send(user=previous, timezone=user.timezone)
    if end_sessions:
        assert user.id is not None
        await _end_every_session(user.id, utcnow())
    return user


async def join_school(user_id: PydanticObjectId, school_id: PydanticObjectId) -> None:
    """Record that the user belongs to the school (idempotent)."""
    await User.get_motor_collection().update_one(
        {"_id": user_id}, {"$addToSet": {"school_ids": school_id}}
    )


async def get_live_user(user_id: PydanticObjectId) -> User | None:
    """The user with this id unless there is none or it was deleted."""
    user = await User.get(user_id)
    return None if user is None or user.is_deleted else user


async def create_user(
    *,
    settings: Settings,
    email: str,
    password: str,
    full_name: str,
    role: Role,
    school_ids: list[PydanticObjectId],
    locale: Locale,
    timezone: str,
) -> User:
    """Create a user of any role (the caller has checked the schools) and mail a link to
    verify the address."""
    if role in SCHOOL_BOUND_ROLES and not school_ids:
        raise Unprocessable(f"A {role.value} must belong to a school: give school_id")
    email = normalize_email(email)
    await _ensure_email_free(email)
    user = await _insert_user(
        User(
            email=email,
            full_name=full_name,
            role=role,
            password_hash=await hash_password_async(password),
            school_ids=school_ids,
            locale=locale,
            timezone=timezone,
        )
    )
    await _send_verification(settings=settings, user=user)
    return user


async def list_users(
    *,
    scope: dict[str, Any],
    page: PageParams,
    role: Role | None = None,
    q: str | None = None,
) -> tuple[list[User], str | None]:
    """Live users matching `scope` (the caller's reach), newest first."""
    conditions: list[dict[str, Any]] = [{"deleted_at": None}, scope]
    if role is not None:
        conditions.append({"role": role.value})
    if q:
        pattern = {"$regex": re.escape(q), "$options": "i"}
        conditions.append({"$or": [{"full_name": pattern}, {"email": pattern}]})
    return await newest_first_page(User, {"$and": conditions}, limit=page.limit, cursor=page.cursor)


STAFF_ROLES = frozenset({Role.teacher, Role.admin})


async def update_user(*, actor: User, user: User, changes: UserUpdateIn) -> User:
    """Edit another user's profile or staff role; a password or an email only the owner
    changes (PATCH /users/me), so a stolen admin session cannot take an account over."""
    updates: dict[str, Any] = {}
    if changes.full_name is not None:
        updates["full_name"] = changes.full_name
    if changes.locale is not None:
        updates["locale"] = changes.locale
    if changes.timezone is not None:
        updates["timezone"] = changes.timezone
    if changes.role is not None and changes.role != user.role:
        if user.id == actor.id:
            raise Conflict("You cannot change your own role")
        if user.role not in STAFF_ROLES:
            raise Unprocessable(f"Only staff change roles; this user is a {user.role.value}")
        updates["role"] = changes.role.value
    return await _apply(user, updates)


async def delete_user(*, actor: User, user: User) -> None:
    """Soft-delete: the account can no longer log in and leaves listings; its data stays."""
    if user.id == actor.id:
        raise Conflict("You cannot delete your own account")
    assert user.id is not None
    now = utcnow()
    await User.get_motor_collection().update_one(
        {"_id": user.id, "deleted_at": None}, {"$set": {"deleted_at": now}}
    )
    await _end_every_session(user.id, now)
