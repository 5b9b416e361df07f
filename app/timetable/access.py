"""Who may set a class's timetable, and read whose week: the dependencies the timetable
router takes. Each loads what the path names, checks the caller's role and relation to it,
and hands the service the authorised objects."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from app.auth import service as auth_service
from app.auth.access import CurrentUser
from app.auth.models import Role, User
from app.core.db import parse_object_id
from app.core.errors import Forbidden, NotFound
from app.schools import service as schools_service
from app.schools.access import AdminSchool, find_class, readable_student
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
class StudentSeats:
    """A student the caller may read, and the classes they sit in."""

    student: User
    seats: list[schools_service.Seat]


async def readable_student_seats(student_id: str, user: CurrentUser) -> StudentSeats:
    """The student in the path, if the caller is them, a linked parent, their teacher or
    admin (schools' rule), with their classes: asked side by side, so the week costs no
    extra wait for the classes."""
    oid = parse_object_id(student_id, what="Student")
    if user.role == Role.student and user.id == oid:  # themselves: read already, and live
        return StudentSeats(student=user, seats=await schools_service.seats_of(oid))
    student, seats = await asyncio.gather(
        readable_student(student_id, user), schools_service.seats_of(oid)
    )
    return StudentSeats(student=student, seats=seats)


ReadableStudentSeats = Annotated[StudentSeats, Depends(readable_student_seats)]


async def readable_teacher(teacher_id: str, user: CurrentUser) -> User:
    """The teacher in the path, if the caller is them or administers every school of theirs
    (an admin of one of two schools would read the other school's week)."""
    oid = parse_object_id(teacher_id, what="Teacher")
    if user.id == oid and user.role == Role.teacher:
        return user
    if user.role != Role.admin:
        raise Forbidden("Only the teacher and their school's admins see a teacher's timetable")
    teacher = await auth_service.get_live_user(oid)
    if teacher is None or teacher.role != Role.teacher:
        raise NotFound("Teacher not found")
    schools = set(teacher.school_ids)
    if not schools or not schools <= set(user.school_ids):
        raise Forbidden("You are not an admin of every school of this teacher")
    return teacher


ReadableTeacher = Annotated[User, Depends(readable_teacher)]
