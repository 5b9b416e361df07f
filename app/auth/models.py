"""Users and their credentials: sessions, refresh tokens, single-use account tokens."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from enum import StrEnum

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import Field

from app.core.security import utcnow


class Role(StrEnum):
    admin = "admin"
    teacher = "teacher"
    student = "student"
    parent = "parent"


class Locale(StrEnum):
    ru = "ru"
    en = "en"


class User(Document):
    # Stored as normalize_email() gives it, so the unique index sees look-alikes as one.
    email: str
    full_name: str
    role: Role
    password_hash: str
    school_ids: list[PydanticObjectId] = Field(default_factory=list)
    locale: Locale = Locale.en
    timezone: str = "UTC"
    email_verified: bool = False
    # An address asked for but not yet confirmed from its own mailbox: until then `email`
    # stays the login and receives everything.
    pending_email: str | None = None
    # Links mailed before this moment (preferences, unsubscribe) are dead: set when a new
    # email is confirmed, since they went to the old mailbox.
    links_valid_after: datetime | None = None
    # Access tokens issued before this moment are refused (password reset, deletion).
    tokens_valid_after: datetime | None = None
    deleted_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "users"
        indexes = [
            pymongo.IndexModel([("email", pymongo.ASCENDING)], unique=True, name="email_unique"),
            pymongo.IndexModel([("school_ids", 1), ("role", 1)], name="school_role"),
            pymongo.IndexModel([("created_at", -1), ("_id", -1)], name="newest_first"),
            # An admin's people: the members of their schools, newest first.
            pymongo.IndexModel(
                [("school_ids", 1), ("created_at", -1), ("_id", -1)], name="school_newest"
            ),
        ]

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class AuthSession(Document):
    """One login; every refresh token rotated from it belongs to it."""

    user_id: PydanticObjectId
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None

    class Settings:
        name = "auth_sessions"
        indexes = [pymongo.IndexModel([("user_id", 1)], name="user")]


class RefreshToken(Document):
    token_hash: str
    session_id: PydanticObjectId
    user_id: PydanticObjectId
    expires_at: datetime
    spent_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "refresh_tokens"
        indexes = [
            pymongo.IndexModel([("token_hash", 1)], unique=True, name="token_hash_unique"),
            pymongo.IndexModel([("session_id", 1)], name="session"),
            pymongo.IndexModel([("user_id", 1)], name="user"),
        ]


def normalize_email(email: str) -> str:
    """The one form an address is stored, compared and looked up in: NFKC folds
    compatibility characters (full-width ａ is a), case folding goes beyond lower() (ß is
    ss), so a look-alike typing of an address finds, and collides with, the same account."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email.strip()).casefold())


def plain_local_part(email: str) -> bool:
    """Whether the part before @ is ASCII once compatibility forms are folded: the dotless
    ı or a Cyrillic а survive every folding and read as i or a, so a new address must not
    use them (nor ß, which folding would turn into another mailbox's ss)."""
    local, _, _ = unicodedata.normalize("NFKC", email.strip()).rpartition("@")
    return local.isascii()


class AccountTokenPurpose(StrEnum):
    verify_email = "verify_email"
    password_reset = "password_reset"
    # Mailed to a pending new address; redeeming it makes that address the login.
    email_change = "email_change"
    # Mailed to an account an admin created without a password: choosing one verifies it.
    invite = "invite"


class AccountToken(Document):
    """Single-use token mailed to a user; only its hash is stored."""

    token_hash: str
    purpose: AccountTokenPurpose
    user_id: PydanticObjectId
    # The address the token was mailed to: it proves only that mailbox, so it is worthless
    # once the account's email is another one.
    email: str | None = None
    expires_at: datetime
    used_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "account_tokens"
        indexes = [
            pymongo.IndexModel([("token_hash", 1)], unique=True, name="token_hash_unique"),
            pymongo.IndexModel([("user_id", 1), ("purpose", 1)], name="user_purpose"),
        ]
