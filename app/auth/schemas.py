"""Request and response bodies of the accounts API."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from app.auth.models import Locale, Role, User
from app.core.timezones import TimeZoneName

MIN_PASSWORD_LENGTH = 8
# Argon2 accepts any length; the bound only keeps a megabyte "password" from costing a hash.
MAX_PASSWORD_LENGTH = 256
MAX_EMAIL_LENGTH = 254
MAX_TOKEN_LENGTH = 256


Timezone = TimeZoneName
Password = Annotated[
    str, StringConstraints(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
]
# Control characters (NUL, line breaks) and format characters (right-to-left overrides,
# invisible isolates) let a name disguise itself or smuggle text into an email.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


def _printable_name(value: str) -> str:
    for character in value:
        if unicodedata.category(character) in _REFUSED_CATEGORIES:
            raise ValueError(
                f"must not contain control or text-direction characters (U+{ord(character):04X})"
            )
    return value


FullName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_printable_name),
]
# email-validator already refuses addresses over 254 characters.
Email = EmailStr
Token = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TOKEN_LENGTH)]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterIn(RequestBody):
    email: Email
    password: Password
    full_name: FullName
    locale: Locale = Locale.en
    timezone: Timezone = "UTC"


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires")


class RefreshIn(RequestBody):
    refresh_token: Token


class TokenIn(RequestBody):
    token: Token


class PasswordResetRequestIn(RequestBody):
    # Deliberately not EmailStr: any string is looked up, so the answer never depends on it.
    email: Annotated[str, StringConstraints(min_length=1, max_length=MAX_EMAIL_LENGTH)]


class PasswordResetConfirmIn(RequestBody):
    token: Token
    new_password: Password


class MeUpdateIn(RequestBody):
    full_name: FullName | None = None
    locale: Locale | None = None
    timezone: Timezone | None = None
    email: Email | None = Field(
        default=None, description="A new address; needs current_password and a new verification"
    )
    current_password: Annotated[str, StringConstraints(max_length=MAX_PASSWORD_LENGTH)] | None = (
        None
    )
    new_password: Password | None = None


class UserCreateIn(RequestBody):
    email: Email
    password: Password
    full_name: FullName
    role: Role
    school_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    locale: Locale = Locale.en
    timezone: Timezone = "UTC"


class UserUpdateIn(RequestBody):
    """What an admin may change of a user; a password or an email only the owner changes."""

    full_name: FullName | None = None
    locale: Locale | None = None
    timezone: Timezone | None = None
    role: Literal[Role.teacher, Role.admin] | None = Field(
        default=None, description="Staff only: a teacher may become an admin and back"
    )


class UserOut(BaseModel):
    id: str
    email: str
    full_name: str
    role: Role
    school_ids: list[str]
    locale: Locale
    timezone: str
    email_verified: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=str(user.id),
            email=user.email,
            full_name=user.full_name,
            role=user.role,
            school_ids=[str(school_id) for school_id in user.school_ids],
            locale=user.locale,
            timezone=user.timezone,
            email_verified=user.email_verified,
            created_at=user.created_at,
        )
