"""Accounts API: /auth (sessions, registration, mailed tokens) and /users (profiles, admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from app.auth import service
from app.auth.models import Role, User
from app.auth.schemas import (
    MeUpdateIn,
    PasswordResetConfirmIn,
    PasswordResetRequestIn,
    RefreshIn,
    RegisterIn,
    TokenIn,
    TokenPair,
    UserCreateIn,
    UserOut,
    UserUpdateIn,
)
from app.core.deps import AdminUser, CurrentUser, SettingsDep
from app.core.pagination import Page, PageParams, page_params
from app.core.ratelimit import client_address, enforce

router = APIRouter(prefix="/auth", tags=["auth"])
users_router = APIRouter(prefix="/users", tags=["users"])

UNAUTHORIZED: dict[int | str, dict[str, Any]] = {401: {"description": "Wrong credentials or token"}}
RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"description": "Too many attempts; see Retry-After"}
}


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=UserOut)
async def register(body: RegisterIn, settings: SettingsDep) -> UserOut:
    """Create a parent account and mail a verification link."""
    user = await service.register(
        settings=settings,
        email=body.email,
        password=body.password,
        full_name=body.full_name,
        locale=body.locale,
        timezone=body.timezone,
    )
    return UserOut.of(user)


@router.post("/verify-email", status_code=status.HTTP_204_NO_CONTENT)
async def verify_email(body: TokenIn) -> Response:
    """Confirm the email address with the token from the verification mail."""
    await service.verify_email(token=body.token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/login", response_model=TokenPair, responses={**UNAUTHORIZED, **RATE_LIMITED})
async def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    settings: SettingsDep,
) -> TokenPair:
    """Exchange email (`username`) and password for an access and a refresh token."""
    # Loose per address, since whole schools share one; tight per account against guessing.
    await enforce(request, settings.login_rate_per_client, "login:client", client_address(request))
    await enforce(
        request,
        settings.login_rate_per_account,
        "login:account",
        service.normalize_email(form.username)[:320],
    )
    return await service.login(settings=settings, email=form.username, password=form.password)


@router.post("/refresh", response_model=TokenPair, responses=UNAUTHORIZED)
async def refresh(body: RefreshIn, settings: SettingsDep) -> TokenPair:
    """Rotate a refresh token: it is spent, a new pair is returned."""
    return await service.refresh(settings=settings, refresh_token=body.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshIn) -> Response:
    """End the session of this refresh token (the token itself is the credential)."""
    await service.logout(refresh_token=body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/password-reset/request", status_code=status.HTTP_202_ACCEPTED, responses=RATE_LIMITED
)
async def request_password_reset(
    request: Request,
    body: PasswordResetRequestIn,
    settings: SettingsDep,
    background: BackgroundTasks,
) -> Response:
    """Mail a reset link if the account exists; the answer is the same either way."""
    await enforce(request, settings.password_reset_rate, "reset:client", client_address(request))
    await enforce(
        request, settings.password_reset_rate, "reset:email", service.normalize_email(body.email)
    )
    # After the response, so its timing does not tell whether the account exists.
    background.add_task(service.request_password_reset, settings=settings, email=body.email)
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.post("/password-reset/confirm", status_code=status.HTTP_204_NO_CONTENT)
async def confirm_password_reset(body: PasswordResetConfirmIn) -> Response:
    """Set a new password with a mailed token; every session of the account ends."""
    await service.reset_password(token=body.token, new_password=body.new_password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@users_router.get("/me", response_model=UserOut)
async def read_me(user: CurrentUser) -> UserOut:
    """The caller's own profile."""
    return UserOut.of(user)


@users_router.patch(
    "/me",
    response_model=UserOut,
    responses={403: {"description": "current_password is wrong"}, **RATE_LIMITED},
)
async def update_me(
    request: Request, body: MeUpdateIn, user: CurrentUser, settings: SettingsDep
) -> UserOut:
    """Change name, locale, time zone or password; a password change ends every session."""
    if body.current_password is not None:
        # A stolen access token must not become a way to guess the password.
        await enforce(request, settings.login_rate_per_account, "password-change", str(user.id))
    return UserOut.of(await service.update_me(user=user, changes=body))


@users_router.post("", status_code=status.HTTP_201_CREATED, response_model=UserOut)
async def create_user(body: UserCreateIn, admin: AdminUser, settings: SettingsDep) -> UserOut:
    """Create a user of any role in a school the admin administers."""
    user = await service.create_user(
        settings=settings,
        admin=admin,
        email=body.email,
        password=body.password,
        full_name=body.full_name,
        role=body.role,
        school_id=body.school_id,
        locale=body.locale,
        timezone=body.timezone,
    )
    return UserOut.of(user)


@users_router.get("", response_model=Page[UserOut])
async def list_users(
    admin: AdminUser,
    page: Annotated[PageParams, Depends(page_params)],
    role: Role | None = None,
    school_id: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=100, description="Part of name or email")] = None,
) -> Page[UserOut]:
    """Users of the admin's schools and parents of their students, newest first."""
    users, cursor = await service.list_users(
        admin=admin, page=page, role=role, school_id=school_id, q=q
    )
    return Page(items=[UserOut.of(user) for user in users], next_cursor=cursor)


async def managed_user(user_id: str, admin: AdminUser) -> User:
    """The user in the path, if the caller administers one of their schools (else 404)."""
    return await service.get_managed_user(admin=admin, user_id=user_id)


ManagedUser = Annotated[User, Depends(managed_user)]


@users_router.get("/{user_id}", response_model=UserOut)
async def read_user(user: ManagedUser) -> UserOut:
    """One user of the admin's schools."""
    return UserOut.of(user)


@users_router.patch("/{user_id}", response_model=UserOut)
async def update_user(body: UserUpdateIn, user: ManagedUser, settings: SettingsDep) -> UserOut:
    """Edit name, email, locale, time zone or password of a user of the admin's schools."""
    return UserOut.of(await service.update_user(settings=settings, user=user, changes=body))


@users_router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(user: ManagedUser, admin: AdminUser) -> Response:
    """Soft-delete a user: no more logins, gone from listings, data kept."""
    await service.delete_user(admin=admin, user=user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
