"""Request and response bodies of the accounts API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Form
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from app.auth.models import Locale, Role, User, plain_local_part
from app.core.text import PLAIN_LINE
from app.core.timezones import TimeZoneName

MIN_PASSWORD_LENGTH = 8
# Argon2 accepts any length; the bound only keeps a megabyte "password" from costing a hash.
MAX_PASSWORD_LENGTH = 256
MAX_EMAIL_LENGTH = 254
MAX_TOKEN_LENGTH = 256


Timezone = TimeZoneName
Password = Annotated[
    str,
    StringConstraints(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH),
    Field(examples=["correct-horse-battery"]),
]
FullName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    PLAIN_LINE,
    Field(examples=["Elena Ivanova"]),
]


def _plain_local_part(email: str) -> str:
    if not plain_local_part(email):
        raise ValueError(
            "the part before @ must be written in Latin letters, digits and . _ + - "
            "(letters that look like others, such as ı or a Cyrillic а, are refused)"
        )
    return email


# email-validator already refuses addresses over 254 characters.
Email = Annotated[EmailStr, AfterValidator(_plain_local_part)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TOKEN_LENGTH)]


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


_PASSWORD = f"{MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
_LOCALE = "Language of emails and pages: en or ru"
_TIMEZONE = "IANA time zone for digest hours and quiet hours"


class RegisterIn(RequestBody):
    email: Email = Field(description="Email address, also the login name")
    password: Password = Field(description=_PASSWORD)
    full_name: FullName = Field(description="As teachers and the school see it")
    locale: Locale = Field(default=Locale.en, description=_LOCALE)
    timezone: Timezone = Field(default="UTC", description=_TIMEZONE, examples=["Europe/Moscow"])


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires")


class RefreshIn(RequestBody):
    refresh_token: Token = Field(description="The refresh_token of the last login or refresh")


class TokenIn(RequestBody):
    token: Token = Field(description="The token from the email's link")


class PasswordResetRequestIn(RequestBody):
    # Deliberately not EmailStr: any string is looked up, so the answer never depends on it.
    email: Annotated[str, StringConstraints(min_length=1, max_length=MAX_EMAIL_LENGTH)] = Field(
        description="The account's email; the answer is the same whether it exists or not"
    )


class PasswordResetConfirmIn(RequestBody):
    token: Token = Field(description="The token from the reset email's link")
    new_password: Password = Field(description=_PASSWORD)


class MeUpdateIn(RequestBody):
    full_name: FullName | None = Field(default=None, description="Left out: kept")
    locale: Locale | None = Field(default=None, description=_LOCALE)
    timezone: Timezone | None = Field(default=None, description=_TIMEZONE)
    email: Email | None = Field(
        default=None,
        description="A new address; needs current_password. It becomes the login once "
        "confirmed from its own mailbox; until then the current one stays",
    )
    current_password: Annotated[str, StringConstraints(max_length=MAX_PASSWORD_LENGTH)] | None = (
        Field(default=None, description="Needed to change the email or the password")
    )
    new_password: Password | None = Field(default=None, description=_PASSWORD)


class UserCreateIn(RequestBody):
    email: Email = Field(description="Email address, also the login name")
    password: Password | None = Field(
        default=None,
        description=f"The first password; {_PASSWORD}. Left out: the person is mailed an "
        "invitation to choose one (which also verifies the address)",
    )
    full_name: FullName = Field(description="As the school shows it")
    role: Role = Field(description="student, teacher, parent or admin")
    school_id: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None,
        description="The school to add a student, teacher or admin to",
        examples=["5eb7cf5a86d9755df3a6c593"],
    )
    locale: Locale = Field(default=Locale.en, description=_LOCALE)
    timezone: Timezone = Field(default="UTC", description=_TIMEZONE)


class UserUpdateIn(RequestBody):
    """What an admin may change of a user; a password or an email only the owner changes."""

    full_name: FullName | None = Field(default=None, description="Left out: kept")
    locale: Locale | None = Field(default=None, description=_LOCALE)
    timezone: Timezone | None = Field(default=None, description=_TIMEZONE)
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
    pending_email: str | None = Field(
        default=None,
        description="Your own profile only: a new email waiting to be confirmed from its mailbox",
    )
    created_at: datetime

    @classmethod
    def of(cls, user: User, *, own: bool = False) -> UserOut:
        return cls(
            id=str(user.id),
            email=user.email,
            full_name=user.full_name,
            role=user.role,
            school_ids=[str(school_id) for school_id in user.school_ids],
            locale=user.locale,
            timezone=user.timezone,
            email_verified=user.email_verified,
            pending_email=user.pending_email if own else None,
            created_at=user.created_at,
        )


class LoginForm:
    """OAuth2's password form, as Swagger's Authorize dialog sends it, each field described.

    `username` is the account's email; the client fields are part of the standard and
    ignored, since every token carries only its account's own rights.
    """

    def __init__(
        self,
        username: Annotated[
            str,
            Form(description="The account's email address", examples=["parent@example.org"]),
        ],
        password: Annotated[
            str, Form(description="The account's password", examples=["correct-horse-battery"])
        ],
        grant_type: Annotated[
            str | None,
            Form(
                pattern="^password$",
                description="OAuth2 grant type: `password`, or leave out",
                examples=["password"],
            ),
        ] = None,
        scope: Annotated[str, Form(description="Ignored (OAuth2 scopes are not used)")] = "",
        client_id: Annotated[str | None, Form(description="Ignored (no OAuth2 clients)")] = None,
        client_secret: Annotated[
            str | None, Form(description="Ignored (no OAuth2 clients)")
        ] = None,
    ) -> None:
        self.username = username
        self.password = password
