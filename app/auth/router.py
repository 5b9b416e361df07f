"""Accounts API: /auth (sessions, registration, mailed tokens) and /users (profiles, admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response, status

from app.auth import service, sessions, tokens
from app.auth.access import CurrentUser
from app.auth.models import normalize_email
from app.auth.schemas import (
    LoginForm,
    MeUpdateIn,
    PasswordResetConfirmIn,
    PasswordResetRequestIn,
    RefreshIn,
    RegisterIn,
    TokenIn,
    TokenPair,
    UserOut,
)
from app.core.deps import SettingsDep
from app.core.errors import Forbidden, Unauthorized
from app.core.ratelimit import allowance, client_address, count, enforce, refuse_when_spent

router = APIRouter(prefix="/auth", tags=["auth"])
users_router = APIRouter(prefix="/users", tags=["users"])

UNAUTHORIZED: dict[int | str, dict[str, Any]] = {401: {"description": "Wrong credentials or token"}}
RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"description": "Too many attempts; see Retry-After"}
}


@router.post(
    "/register",
    operation_id="register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses={409: {"description": "An account with this email exists"}, **RATE_LIMITED},
)
async def register(request: Request, body: RegisterIn, settings: SettingsDep) -> UserOut:
    """Create a parent account and mail a verification link.

    A taken email answers 409, which tells the caller the address has an account: a
    documented trade-off for a clear sign-up, bounded by these two rate limits.
    """
    await enforce(
        request, settings.register_rate_per_client, "register:client", client_address(request)
    )
    await enforce(
        request,
        settings.register_rate_per_email,
        "register:email",
        normalize_email(body.email),
    )
    user = await service.register(
        settings=settings,
        email=body.email,
        password=body.password,
        full_name=body.full_name,
        locale=body.locale,
        timezone=body.timezone,
    )
    return UserOut.of(user)


@router.post(
    "/verify-email",
    operation_id="verifyEmail",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        400: {"description": "The link is invalid, used or expired"},
        409: {"description": "The new address became another account's meanwhile"},
    },
)
async def verify_email(body: TokenIn) -> Response:
    """Confirm an email address with the token mailed to it: the account's own, or a new
    one asked for, which then becomes the login."""
    await tokens.verify_email(token=body.token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/login",
    operation_id="login",
    response_model=TokenPair,
    responses={**UNAUTHORIZED, **RATE_LIMITED},
)
async def login(
    request: Request,
    form: Annotated[LoginForm, Depends()],
    settings: SettingsDep,
) -> TokenPair:
    """Exchange email (`username`) and password for an access and a refresh token."""
    client = client_address(request)
    # Loose per address, since whole schools share one, and counting every attempt: a
    # bound on the hashing one address can ask for.
    await enforce(request, settings.login_rate_per_client, "login:client", client)
    # Tight against guessing, but on failures per account *and* address: wrong passwords
    # from one address never lock the right one out from another, and a right one never
    # counts.
    failures = tokens.request_key(form.username, client)
    await refuse_when_spent(request, settings.login_rate_per_account, "login:failures", failures)
    try:
        return await sessions.login(settings=settings, email=form.username, password=form.password)
    except Unauthorized:
        await count(request, settings.login_rate_per_account, "login:failures", failures)
        raise


@router.post(
    "/refresh", operation_id="refreshTokens", response_model=TokenPair, responses=UNAUTHORIZED
)
async def refresh(body: RefreshIn, settings: SettingsDep) -> TokenPair:
    """Rotate a refresh token: it is spent, a new pair is returned."""
    return await sessions.refresh(settings=settings, refresh_token=body.refresh_token)


@router.post("/logout", operation_id="logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshIn) -> Response:
    """End the session of this refresh token (the token itself is the credential)."""
    await sessions.logout(refresh_token=body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/password-reset/request",
    operation_id="requestPasswordReset",
    status_code=status.HTTP_202_ACCEPTED,
    # No body, as with a 204: said here, or the documentation promises JSON.
    response_class=Response,
    responses=RATE_LIMITED,
)
async def request_password_reset(
    request: Request,
    body: PasswordResetRequestIn,
    settings: SettingsDep,
    background: BackgroundTasks,
) -> Response:
    """Mail a reset link if the account exists; the answer is the same either way."""
    client = client_address(request)
    await enforce(request, settings.password_reset_rate_per_client, "reset:client", client)
    pair = tokens.request_key(body.email, client)
    await enforce(request, settings.password_reset_rate, "reset:pair", pair)
    # After the response, so its timing does not tell whether the account exists.
    background.add_task(
        tokens.request_password_reset,
        settings=settings,
        email=body.email,
        allowed=allowance(request, tokens.ACCOUNT_MAILS_PER_ACCOUNT, "account-mails"),
    )
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.post(
    "/password-reset/confirm",
    operation_id="confirmPasswordReset",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def confirm_password_reset(body: PasswordResetConfirmIn) -> Response:
    """Set a new password with a mailed token; every session of the account ends."""
    await tokens.reset_password(token=body.token, new_password=body.new_password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@users_router.get("/me", operation_id="getMe", response_model=UserOut)
async def read_me(user: CurrentUser) -> UserOut:
    """The caller's own profile."""
    return UserOut.of(user, own=True)


@users_router.patch(
    "/me",
    operation_id="updateMe",
    response_model=UserOut,
    responses={
        403: {"description": "current_password is wrong"},
        409: {"description": "The new email is another account's"},
        **RATE_LIMITED,
    },
)
async def update_me(
    request: Request, body: MeUpdateIn, user: CurrentUser, settings: SettingsDep
) -> UserOut:
    """Change name, locale, time zone, email or password (the last two need the current
    password); a password change ends every session; a new email is pending until
    confirmed from its mailbox, and the current one is told."""
    if body.current_password is None:
        return UserOut.of(
            await service.update_me(settings=settings, user=user, changes=body), own=True
        )
    # A stolen access token must not become a way to guess the password; as at login, only
    # a wrong current password counts.
    rate, account = settings.login_rate_per_account, str(user.id)
    await refuse_when_spent(request, rate, "password-change", account)
    if body.email is not None and normalize_email(body.email) != user.email:
        # Each request mails two addresses, one of them any the caller names.
        await enforce(request, tokens.ACCOUNT_MAILS_PER_ACCOUNT, "email-change", account)
    try:
        return UserOut.of(
            await service.update_me(settings=settings, user=user, changes=body), own=True
        )
    except Forbidden:
        await count(request, rate, "password-change", account)
        raise
