"""Who may set, change and delete which homework: the dependencies the homework router takes.

As for grades: no token 401, a malformed body 422, then 403 for a role that never sets
homework, 404 for what does not exist, 403 for what is not the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from app.auth.access import CurrentUser
from app.auth.models import Role, User
from app.core.db import parse_object_id
from app.core.errors import Forbidden, NotFound
from app.homework import service
from app.homework.models import Homework
from app.homework.schemas import HomeworkCreate, HomeworkUpdate
from app.schools.access import is_school_admin, load_class, school_with_class
from app.schools.models import School, SchoolClass
from app.subjects.access import may_teach


@dataclass(frozen=True)
class Setting:
    """Homework the caller may set: who, in which school and class, and what."""

    author: User
    school: School
    school_class: SchoolClass
    data: HomeworkCreate


async def settable_class(body: HomeworkCreate, user: CurrentUser) -> Setting:
    """The class of the posted homework, if the caller teaches that subject there or runs
    the school."""
    if user.role not in (Role.teacher, Role.admin):
        raise Forbidden("Only teachers and admins set homework")
    school, school_class = await load_class(body.class_id)
    if not may_teach(user, school, school_class, body.subject):
        raise Forbidden("You do not teach this subject in this class")
    return Setting(author=user, school=school, school_class=school_class, data=body)


SettableClass = Annotated[Setting, Depends(settable_class)]


@dataclass(frozen=True)
class HeldHomework:
    """Homework the caller may change, with its school (time zone for due dates)."""

    homework: Homework
    school: School


async def _held(homework_id: str, user: User) -> HeldHomework:
    homework = await service.get_homework(parse_object_id(homework_id, what="Homework"))
    found = await school_with_class(homework.school_id, homework.class_id) if homework else None
    if homework is None or found is None:
        raise NotFound("Homework not found")
    school, school_class = found
    if is_school_admin(user, homework.school_id):
        return HeldHomework(homework=homework, school=school)
    # Its author, and only while they still teach that subject in that class: a teacher taken
    # off a class keeps no hold on the homework set there.
    if not (
        user.id == homework.author_id and may_teach(user, school, school_class, homework.subject)
    ):
        raise Forbidden(
            "Only the teacher who set this homework, while teaching this class, or the "
            "school's admin may change it"
        )
    return HeldHomework(homework=homework, school=school)


async def held_homework(homework_id: str, user: CurrentUser) -> HeldHomework:
    """The homework in the path, if the caller set it and still teaches it, or runs the school."""
    return await _held(homework_id, user)


HeldHomeworkDep = Annotated[HeldHomework, Depends(held_homework)]


@dataclass(frozen=True)
class HomeworkChange:
    homework: Homework
    school: School
    changes: HomeworkUpdate


async def changeable_homework(
    homework_id: str, body: HomeworkUpdate, user: CurrentUser
) -> HomeworkChange:
    """As `held_homework`, with the body of the change (validated first)."""
    held = await _held(homework_id, user)
    return HomeworkChange(homework=held.homework, school=held.school, changes=body)


ChangeableHomework = Annotated[HomeworkChange, Depends(changeable_homework)]
