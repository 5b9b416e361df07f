"""Who may set a class's timetable, and read whose week: the dependencies the timetable
router takes. Each loads what the path names, checks the caller's role and relation to it,
and hands the service the authorised objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from app.auth.access import CurrentUser
from app.auth.models import Role, User
from app.core.db import parse_object_id
from app.core.errors import Forbidden, NotFound
from app.schools import service as schools_service
from app.schools.access import AdminSchool, find_class
from app.schools.models import School, SchoolClass


@dataclass(frozen=True)
class AdministeredClass:
    school: School
    school_class: SchoolClass


async def administered_class(school: AdminSchool, class_id: str) -> AdministeredClass:
    """The class in the path, if the caller administers its school."""
    return AdministeredClass(school=school, school_class=find_class(school, class_id))


ManagedClass = Annotated[AdministeredClass, Depends(administered_class)]


@dataclass(frozen=True)
class TeacherReader:
    """A teacher whose week the caller may read, with their live schools when the check
    read them (an admin's), else None: the week reads them beside its own query."""

    teacher: User
    schools: list[School] | None


async def readable_teacher(teacher_id: str, user: CurrentUser) -> TeacherReader:
    """The teacher in the path, if the caller is them or administers every school of theirs
    (an admin of one of two schools would read the other school's week). An admin's check
    reads the teacher and the admin's live schools in one round trip."""
    oid = parse_object_id(teacher_id, what="Teacher")
    if user.id == oid and user.role == Role.teacher:
        return TeacherReader(teacher=user, schools=None)
    if user.role != Role.admin:
        raise Forbidden("Only the teacher and their school's admins see a teacher's timetable")
    admin_schools, teacher = await schools_service.live_schools_and_user(user.school_ids, oid)
    if teacher is None or teacher.role != Role.teacher:
        raise NotFound("Teacher not found")
    schools = set(teacher.school_ids)
    if not schools or not schools <= set(user.school_ids):
        raise Forbidden("You are not an admin of every school of this teacher")
    # In the teacher's order: their first school's time zone says which week is this one.
    theirs = sorted(
        (s for s in admin_schools if s.id in schools),
        key=lambda s: teacher.school_ids.index(s.id),  # type: ignore[arg-type]
    )
    return TeacherReader(teacher=teacher, schools=theirs)


ReadableTeacher = Annotated[TeacherReader, Depends(readable_teacher)]
