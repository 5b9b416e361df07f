"""Who may read and change a school's subject list, and who teaches which subject where."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.auth.access import CurrentUser
from app.auth.models import Role, User
from app.core.errors import Forbidden
from app.schools.access import admin_school, is_school_admin, load_school, schools_of
from app.schools.models import School, SchoolClass
from app.subjects.models import subject_code


def may_teach(
    user: User, school: School, school_class: SchoolClass | None, subject: str | None = None
) -> bool:
    """The school's admin, or a teacher of the class: of `subject` (case and spacing aside)
    when one is named, of any subject when none is. Nobody teaches a class that is gone."""
    assert school.id is not None
    if is_school_admin(user, school.id):
        return True
    if user.role != Role.teacher or user.id is None or school_class is None:
        return False
    if subject is None:
        return school_class.has_teacher(user.id)
    wanted = subject_code(subject)
    return any(subject_code(s) == wanted for s in school_class.subjects_of(user.id))


async def member_school(school_id: str, user: CurrentUser) -> School:
    """The school in the path, if the caller belongs to it (a parent through a child)."""
    school = await load_school(school_id)
    assert school.id is not None
    if not is_school_admin(user, school.id) and school.id not in await schools_of(user):
        raise Forbidden("You are not a member of this school")
    return school


MemberSchool = Annotated[School, Depends(member_school)]
AdminSchool = Annotated[School, Depends(admin_school)]
