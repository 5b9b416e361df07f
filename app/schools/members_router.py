"""/users for admins: the people of the schools they run."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from app.auth import service as auth_service
from app.auth import tokens as auth_tokens
from app.auth.access import AdminUser
from app.auth.models import Role
from app.auth.schemas import UserCreateIn, UserOut, UserUpdateIn
from app.core.deps import SettingsDep
from app.core.pagination import Page, PageParams, page_params
from app.core.ratelimit import enforce
from app.schools import members
from app.schools.access import ListedSchools, ManagedUser, administered_school

router = APIRouter(prefix="/users", tags=["users"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such user among the people of every school you run"}
}
# An admin may remind a person of the reset link, not flood their mailbox with it.
ADMIN_RESET_RATE = "5/hour"


@router.post(
    "", operation_id="createUser", status_code=status.HTTP_201_CREATED, response_model=UserOut
)
async def create_user(body: UserCreateIn, admin: AdminUser, settings: SettingsDep) -> UserOut:
    """Create a user of any role in a school the admin administers."""
    school_id = None
    if body.school_id is not None:
        school_id = await administered_school(admin, body.school_id)
    user = await members.create_user(
        settings=settings,
        email=body.email,
        password=body.password,
        full_name=body.full_name,
        role=body.role,
        school_id=school_id,
        locale=body.locale,
        timezone=body.timezone,
    )
    return UserOut.of(user)


@router.get("", operation_id="listUsers", response_model=Page[UserOut])
async def list_users(
    school_ids: ListedSchools,
    page: Annotated[PageParams, Depends(page_params)],
    role: Annotated[Role | None, Query(description="Only users of this role")] = None,
    q: Annotated[str | None, Query(max_length=100, description="Part of name or email")] = None,
) -> Page[UserOut]:
    """Users of the admin's schools and parents of their students, newest first."""
    users, cursor = await members.list_users(school_ids=school_ids, page=page, role=role, q=q)
    return Page(items=[UserOut.of(user) for user in users], next_cursor=cursor)


@router.get("/{user_id}", operation_id="getUser", response_model=UserOut, responses=NOT_FOUND)
async def read_user(user: ManagedUser) -> UserOut:
    """A user all of whose schools the admin runs."""
    return UserOut.of(user)


@router.patch("/{user_id}", operation_id="updateUser", response_model=UserOut, responses=NOT_FOUND)
async def update_user(body: UserUpdateIn, user: ManagedUser, admin: AdminUser) -> UserOut:
    """Edit name, locale, time zone or staff role; never a password or an email, which only
    their owner changes."""
    return UserOut.of(await auth_service.update_user(actor=admin, user=user, changes=body))


@router.delete(
    "/{user_id}",
    operation_id="deleteUser",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
)
async def delete_user(user: ManagedUser, admin: AdminUser) -> Response:
    """Soft-delete a user: no more logins, gone from listings, data kept."""
    await auth_service.delete_user(actor=admin, user=user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{user_id}/password-reset",
    operation_id="sendPasswordReset",
    status_code=status.HTTP_202_ACCEPTED,
    # No body, as with a 204: said here, or the documentation promises JSON.
    response_class=Response,
    responses=NOT_FOUND,
)
async def send_password_reset(
    request: Request, user: ManagedUser, settings: SettingsDep
) -> Response:
    """Mail the user a link to set a new password themselves."""
    await enforce(request, ADMIN_RESET_RATE, "admin-reset", str(user.id))
    await auth_tokens.send_password_reset(settings=settings, user=user)
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.post(
    "/{user_id}/invite",
    operation_id="sendInvitation",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    responses=NOT_FOUND,
)
async def send_invitation(request: Request, user: ManagedUser, settings: SettingsDep) -> Response:
    """Mail the user a fresh invitation to choose a password; links sent before stop working."""
    await enforce(request, ADMIN_RESET_RATE, "admin-invite", str(user.id))
    await members.invite(settings=settings, user=user)
    return Response(status_code=status.HTTP_202_ACCEPTED)
