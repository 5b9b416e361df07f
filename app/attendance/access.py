"""Who may keep which register, send which absence note and decide it: the dependencies the
attendance router takes. No token 401, a malformed body 422, then 403 for a role that never
does this, 404 for what does not exist, 403 for what is not the caller's."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from app.attendance import service
from app.attendance.models import AbsenceNote
from app.attendance.schemas import AbsenceNoteDecision, AbsenceNoteIn, AttendanceIn
from app.auth.access import CurrentUser
from app.auth.models import Role, User
from app.core.db import parse_object_id
from app.core.errors import Forbidden, NotFound, Unprocessable
from app.schools import service as schools_service
from app.schools.access import (
    find_class,
    is_linked_guardian,
    load_class,
    load_school,
    load_student,
    school_with_class,
)
from app.schools.models import School, SchoolClass
from app.subjects.access import may_teach


@dataclass(frozen=True)
class Register:
    """A lesson's register the caller may keep."""

    teacher: User
    school: School
    school_class: SchoolClass
    day: dt.date
    data: AttendanceIn


async def register(
    school_id: str, class_id: str, date: dt.date, body: AttendanceIn, user: CurrentUser
) -> Register:
    """The class in the path, if the caller teaches it or runs its school."""
    if user.role not in (Role.teacher, Role.admin):
        raise Forbidden("Only the class's teachers and the school's admins mark attendance")
    school = await load_school(school_id)
    school_class = find_class(school, class_id)
    if not may_teach(user, school, school_class):
        raise Forbidden("You do not teach this class")
    return Register(teacher=user, school=school, school_class=school_class, day=date, data=body)


KeptRegister = Annotated[Register, Depends(register)]


@dataclass(frozen=True)
class NoteToSend:
    parent: User
    student: User
    school: School
    school_class: SchoolClass
    data: AbsenceNoteIn


async def note_to_send(student_id: str, body: AbsenceNoteIn, user: CurrentUser) -> NoteToSend:
    """The student in the path, if the caller is a parent linked to them; the note goes to
    the class they sit in now."""
    if user.role != Role.parent:
        raise Forbidden("Only a linked parent sends an absence note")
    student = await load_student(student_id)
    assert user.id is not None and student.id is not None
    if not await is_linked_guardian(user.id, student.id):
        raise Forbidden("You are not a parent of this student")
    class_ids = await schools_service.class_ids_of_student(student.id)
    if not class_ids:
        raise Unprocessable("this student is in no class: there is no teacher to send it to")
    school, school_class = await load_class(class_ids[0])
    return NoteToSend(
        parent=user, student=student, school=school, school_class=school_class, data=body
    )


SendableNote = Annotated[NoteToSend, Depends(note_to_send)]


@dataclass(frozen=True)
class NoteDecision:
    note: AbsenceNote
    teacher: User
    data: AbsenceNoteDecision


async def note_decision(note_id: str, body: AbsenceNoteDecision, user: CurrentUser) -> NoteDecision:
    """The note in the path, if the caller teaches its class or runs its school."""
    if user.role not in (Role.teacher, Role.admin):
        raise Forbidden("Only the class's teachers and the school's admins decide absence notes")
    note = await service.get_note(parse_object_id(note_id, what="Absence note"))
    found = await school_with_class(note.school_id, note.class_id) if note else None
    if note is None or found is None:
        raise NotFound("Absence note not found")
    school, school_class = found
    if not may_teach(user, school, school_class):
        raise Forbidden("You do not teach this student's class")
    return NoteDecision(note=note, teacher=user, data=body)


DecidableNote = Annotated[NoteDecision, Depends(note_decision)]
