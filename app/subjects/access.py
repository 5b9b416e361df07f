"""Who may read and change a school's subject list."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.auth.access import CurrentUser
from app.core.errors import Forbidden
from app.schools.access import admin_school, is_school_admin, load_school, schools_of
from app.schools.models import School


async def member_school(school_id: str, user: CurrentUser) -> School:
    """The school in the path, if the caller belongs to it (a parent through a child)."""
    school = await load_school(school_id)
    assert school.id is not None
    if not is_school_admin(user, school.id) and school.id not in await schools_of(user):
        raise Forbidden("You are not a member of this school")
    return school


MemberSchool = Annotated[School, Depends(member_school)]
AdminSchool = Annotated[School, Depends(admin_school)]
