"""Accounts: registration, profiles, and the users other domains create, list and change."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from beanie import PydanticObjectId

from app.auth import hooks, repository, sessions, tokens, user_cache
from app.auth.models import (
    AccountTokenPurpose,
    Locale,
    Role,
    User,
    normalize_email,
    plain_local_part,
)
from app.auth.schemas import (
    MAX_EMAIL_LENGTH,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    MeUpdateIn,
    UserUpdateIn,
)
from app.core.config import Settings
from app.core.db import DuplicateKeyError
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.pagination import PageParams, newest_first_page
from app.core.security import (
    hash_password_async,
    utcnow,
    verify_password_async,
)
from app.core.text import first_refused_character

log = logging.getLogger(__name__)

# Roles that only exist inside a school; an admin creating one must name the school.
SCHOOL_BOUND_ROLES = frozenset({Role.teacher, Role.student})
EMAIL_TAKEN = "An account with this email already exists"


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
    await tokens.send_verification(settings=settings, user=user)
    return user


async def create_admin(*, email: str, password: str, full_name: str = "Administrator") -> User:
    """Create an admin with no school yet (CLI, bootstrap); the operator vouches for the email."""
    email = normalize_email(email)
    if "@" not in email or len(email) > MAX_EMAIL_LENGTH or not plain_local_part(email):
        raise Unprocessable("An admin needs a valid email address")
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise Unprocessable(
            f"The admin password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
    full_name = full_name.strip()
    if not full_name or first_refused_character(full_name) is not None:
        raise Unprocessable("The admin's name must be plain text without control characters")
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
    password ends every session and spends every reset link; a new email is only asked
    for: it becomes the login once confirmed from its own mailbox, and the current
    address, still the login meanwhile, is told."""
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
    if changes.email is not None and new_email is None:
        # Asking for the current address again withdraws a pending change.
        updates["pending_email"] = None
    if new_email is not None:
        await _ensure_email_free(new_email)
        updates["pending_email"] = new_email
    if changes.new_password is not None:
        updates["password_hash"] = await hash_password_async(changes.new_password)
        if new_email is None:
            # A new password withdraws a change whoever knew the old one asked for.
            updates["pending_email"] = None
    assert user.id is not None
    if "pending_email" in updates:
        # Only the newest request's link may confirm an address.
        await tokens.burn_account_tokens(user.id, AccountTokenPurpose.email_change)
    if changes.new_password is not None:
        # Before the write: a link a thief asked for before the owner changed the
        # password must be dead by the time the new one is.
        await tokens.burn_account_tokens(user.id, AccountTokenPurpose.password_reset)
    user = await _apply(user, updates, end_sessions=changes.new_password is not None)
    if new_email is not None:
        await tokens.send_email_change(settings=settings, user=user, new_email=new_email)
    return user


async def _apply(user: User, updates: dict[str, Any], *, end_sessions: bool = False) -> User:
    assert user.id is not None
    if updates:
        try:
            updated = await repository.update_live_user(user.id, updates)
        except DuplicateKeyError as exc:
            raise Conflict(EMAIL_TAKEN) from exc
        if updated is None:
            raise NotFound("User not found")
        previous, user = user, updated
        await user_cache.forget_user(user.id)  # type: ignore[arg-type]
        if previous.timezone != user.timezone:
            await hooks.timezone_changed.send(user=previous, timezone=user.timezone)
    if end_sessions:
        assert user.id is not None
        await sessions.end_every_session(user.id, utcnow())
    return user


async def join_school(user_id: PydanticObjectId, school_id: PydanticObjectId) -> None:
    """Record that the user belongs to the school (idempotent)."""
    await repository.update_user({"_id": user_id}, {"$addToSet": {"school_ids": school_id}})
    await user_cache.forget_user(user_id)


async def leave_school(user_id: PydanticObjectId, school_id: PydanticObjectId) -> None:
    """Record that the user no longer belongs to the school (idempotent)."""
    await repository.update_user({"_id": user_id}, {"$pull": {"school_ids": school_id}})
    await user_cache.forget_user(user_id)


async def get_live_user(user_id: PydanticObjectId) -> User | None:
    """The user with this id unless there is none or it was deleted."""
    user = await User.get(user_id)
    return None if user is None or user.is_deleted else user


# The password hash of an account nobody has chosen a password for yet: no password
# matches it, so only the invitation (or a reset link) lets its owner in.
NO_PASSWORD = ""


async def create_user(
    *,
    settings: Settings,
    email: str,
    password: str | None,
    full_name: str,
    role: Role,
    school_ids: list[PydanticObjectId],
    locale: Locale,
    timezone: str,
    school_name: str | None = None,
) -> User:
    """Create a user of any role (the caller has checked the schools). With a password, a
    link to verify the address is mailed; without one, an invitation naming the school and
    the role, whose link sets the password and so verifies the address."""
    if role in SCHOOL_BOUND_ROLES and not school_ids:
        raise Unprocessable(f"A {role.value} must belong to a school: give school_id")
    email = normalize_email(email)
    await _ensure_email_free(email)
    password_hash = NO_PASSWORD if password is None else await hash_password_async(password)
    user = await _insert_user(
        User(
            email=email,
            full_name=full_name,
            role=role,
            password_hash=password_hash,
            school_ids=school_ids,
            locale=locale,
            timezone=timezone,
        )
    )
    if password is None:
        await tokens.send_invitations(settings=settings, invited=[user], school_name=school_name)
    else:
        await tokens.send_verification(settings=settings, user=user)
    return user


async def insert_invited_users(users: Sequence[User]) -> list[User]:
    """Write accounts without a password in one unordered insert; those whose address an
    account already has (written before, or by a parallel import) are skipped. Returns the
    ones this call wrote, which are the ones to invite."""
    if not users:
        return []
    for user in users:
        user.id = user.id or PydanticObjectId()
        user.password_hash = NO_PASSWORD
    await repository.insert_users([u.model_dump(by_alias=True) for u in users])
    ids = [u.id for u in users]
    written = {row["_id"] for row in await repository.user_rows({"_id": {"$in": ids}}, {"_id": 1})}
    return [u for u in users if u.id in written]


async def users_by_emails(emails: Sequence[str]) -> list[User]:
    """The accounts (deleted ones too) holding these addresses, in one query."""
    folded = list(dict.fromkeys(normalize_email(e) for e in emails))
    if not folded:
        return []
    return await repository.users_matching({"email": {"$in": folded}})


async def join_school_many(
    user_ids: Sequence[PydanticObjectId], school_id: PydanticObjectId
) -> None:
    """Record that these users belong to the school, in one write (idempotent)."""
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return
    await repository.update_users({"_id": {"$in": ids}}, {"$addToSet": {"school_ids": school_id}})
    for user_id in ids:
        await user_cache.forget_user(user_id)


async def list_users(
    *,
    scope: dict[str, Any],
    page: PageParams,
    role: Role | None = None,
    q: str | None = None,
) -> tuple[list[User], str | None]:
    """Live users matching `scope` (the caller's reach), newest first."""
    conditions = [scope, *_listing_conditions(role=role, q=q)]
    return await newest_first_page(User, {"$and": conditions}, limit=page.limit, cursor=page.cursor)


async def listed_among(
    user_ids: Sequence[PydanticObjectId],
    *,
    outside: Sequence[PydanticObjectId],
    role: Role | None = None,
    q: str | None = None,
) -> list[User]:
    """Which of these users (a page's worth) a user list shows: live, in `role`, matching
    `q`, and members of none of the schools `outside` (listed with those already); in
    the order given."""
    if not user_ids:
        return []
    conditions = _listing_conditions(role=role, q=q)
    conditions += [{"_id": {"$in": list(user_ids)}}, {"school_ids": {"$nin": list(outside)}}]
    found = {u.id: u for u in await repository.users_matching({"$and": conditions})}
    return [found[user_id] for user_id in user_ids if user_id in found]


def _listing_conditions(*, role: Role | None, q: str | None) -> list[dict[str, Any]]:
    conditions: list[dict[str, Any]] = [{"deleted_at": None}]
    if role is not None:
        conditions.append({"role": role.value})
    if q:
        pattern = {"$regex": re.escape(q), "$options": "i"}
        # Addresses are stored folded: what is typed is folded alike, so a look-alike
        # spelling finds the account it would sign in as.
        folded = {"$regex": re.escape(normalize_email(q))}
        conditions.append({"$or": [{"full_name": pattern}, {"email": folded}]})
    return conditions


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
    await repository.update_user(
        {"_id": user.id, "deleted_at": None}, {"$set": {"deleted_at": now}}
    )
    await sessions.end_every_session(user.id, now)


async def normalize_stored_emails() -> tuple[int, int]:
    """Rewrite stored emails into normalize_email's form (NFKC and case folding, where
    older versions only lower-cased). An address whose folded form another account
    already holds is a look-alike of it: it is left as it is, unreachable by login, and
    logged for an operator. Returns (rewritten, left as look-alikes)."""
    rewritten = look_alikes = 0
    for raw in await repository.user_rows({}, {"email": 1}):
        folded = normalize_email(raw["email"])
        if folded == raw["email"]:
            continue
        try:
            await repository.update_user(
                {"_id": raw["_id"], "email": raw["email"]}, {"$set": {"email": folded}}
            )
        except DuplicateKeyError:
            look_alikes += 1
            log.warning(
                "user %s has a look-alike of another account's email; left unchanged",
                raw["_id"],
            )
            continue
        await user_cache.forget_user(raw["_id"])
        rewritten += 1
    return rewritten, look_alikes
