"""The people of an admin's schools: creating accounts in a school and listing them.

Accounts themselves belong to auth; this layer knows which school a person belongs to (a
parent through their children) and so who an admin may reach.
"""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId

from app.auth import service as auth_service
from app.auth import tokens as auth_tokens
from app.auth.models import Locale, Role, User
from app.core.config import Settings
from app.core.pagination import PageParams
from app.schools import guardians, repository


async def create_user(
    *,
    settings: Settings,
    email: str,
    password: str | None,
    full_name: str,
    role: Role,
    school_id: PydanticObjectId | None,
    locale: Locale,
    timezone: str,
) -> User:
    """Create a user of any role, in a school the caller was allowed to add people to;
    without a password, the invitation names that school."""
    school_ids = [school_id] if school_id is not None else []
    school = await repository.get(school_id) if school_id is not None else None
    return await auth_service.create_user(
        settings=settings,
        email=email,
        password=password,
        full_name=full_name,
        role=role,
        school_ids=school_ids,
        locale=locale,
        timezone=timezone,
        school_name=school.name if school is not None else None,
    )


async def invite(*, settings: Settings, user: User) -> None:
    """Mail a fresh invitation, naming the user's school, and end the links sent before."""
    school = await repository.get(user.school_ids[0]) if user.school_ids else None
    await auth_tokens.reinvite(
        settings=settings, user=user, school_name=school.name if school is not None else None
    )


async def _people_of_schools(school_ids: list[PydanticObjectId]) -> dict[str, Any]:
    """Members of these schools, and the parents linked to their students."""
    # One query: the students' ids stay on the server, their parents' come back.
    parent_ids = await guardians.parents_of_students_of(school_ids)
    return {"$or": [{"school_ids": {"$in": school_ids}}, {"_id": {"$in": parent_ids}}]}


async def list_users(
    *,
    school_ids: list[PydanticObjectId],
    page: PageParams,
    role: Role | None = None,
    q: str | None = None,
) -> tuple[list[User], str | None]:
    """Users of these schools and the parents of their students, newest first."""
    if not school_ids:
        return [], None
    return await auth_service.list_users(
        scope=await _people_of_schools(school_ids), page=page, role=role, q=q
    )
