"""The people of an admin's schools: creating accounts in a school and listing them.

Accounts themselves belong to auth; this layer knows which school a person belongs to (a
parent through their children) and so who an admin may reach.
"""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId

from app.auth import service as auth_service
from app.auth.models import Locale, Role, User
from app.core.config import Settings
from app.core.db import collection, parse_object_id
from app.core.errors import Forbidden, NotFound, Unprocessable
from app.core.pagination import PageParams
from app.schools import guardians
from app.schools.access import is_school_admin, load_school


async def create_user(
    *,
    settings: Settings,
    admin: User,
    email: str,
    password: str,
    full_name: str,
    role: Role,
    school_id: str | None,
    locale: Locale,
    timezone: str,
) -> User:
    """Create a user of any role, in a school the admin administers."""
    school_ids: list[PydanticObjectId] = []
    if school_id is not None:
        school = await load_school(school_id)
        assert school.id is not None
        if not is_school_admin(admin, school.id):
            raise Forbidden("You are not an admin of this school")
        school_ids = [school.id]
    return await auth_service.create_user(
        settings=settings,
        email=email,
        password=password,
        full_name=full_name,
        role=role,
        school_ids=school_ids,
        locale=locale,
        timezone=timezone,
    )


async def _people_of_schools(school_ids: list[PydanticObjectId]) -> dict[str, Any]:
    """Members of these schools, and the parents linked to their students."""
    # Their ids only: a school's whole roster need not be loaded to find its parents.
    student_ids = await collection(User).distinct(
        "_id", {"role": Role.student.value, "school_ids": {"$in": school_ids}, "deleted_at": None}
    )
    parent_ids = await guardians.parents_of(student_ids)
    return {"$or": [{"school_ids": {"$in": school_ids}}, {"_id": {"$in": parent_ids}}]}


async def list_users(
    *,
    admin: User,
    page: PageParams,
    role: Role | None = None,
    school_id: str | None = None,
    q: str | None = None,
) -> tuple[list[User], str | None]:
    """Users of the admin's schools (or one of them), newest first."""
    if school_id is not None:
        try:
            wanted = parse_object_id(school_id, what="School")
        except NotFound as exc:
            raise Unprocessable("school_id is not a valid id") from exc
        if not is_school_admin(admin, wanted):
            raise Forbidden("You are not an admin of this school")
        school_ids = [wanted]
    else:
        school_ids = list(admin.school_ids)
    if not school_ids:
        return [], None
    return await auth_service.list_users(
        scope=await _people_of_schools(school_ids), page=page, role=role, q=q
    )
