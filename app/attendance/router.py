"""Attendance: a lesson's register kept by the class's teachers, absence notes from parents,
and a student's record with totals for the student's circle."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.attendance import service
from app.attendance.access import DecidableNote, KeptRegister, SendableNote
from app.attendance.models import NoteStatus
from app.attendance.schemas import AbsenceNoteOut, RegisterOut, StudentAttendance
from app.schools.access import ReadableStudentSeats

router = APIRouter(tags=["attendance"])


@router.put(
    "/schools/{school_id}/classes/{class_id}/attendance/{date}", operation_id="markAttendance"
)
async def mark_register(kept: KeptRegister) -> RegisterOut:
    """Mark a lesson (or, without a period, the day): the students listed are absent, late or
    excused, every other one present. Parents hear of an absence at once, and of a told
    absence taken back; the same register twice changes nothing."""
    return await service.mark_register(
        teacher=kept.teacher,
        school=kept.school,
        school_class=kept.school_class,
        day=kept.day,
        data=kept.data,
    )


@router.get("/students/{student_id}/attendance", operation_id="getStudentAttendance")
async def student_attendance(
    reader: ReadableStudentSeats,
    date_from: Annotated[
        dt.date | None,
        Query(alias="from", description="First day included; default a year before `to`"),
    ] = None,
    date_to: Annotated[
        dt.date | None,
        Query(alias="to", description="Last day included; default today at the school"),
    ] = None,
) -> StudentAttendance:
    """A student's absences, lateness and excused days, newest first, with totals (the
    student, linked parents, their teachers, the admin)."""
    assert reader.student.id is not None
    return await service.student_attendance(
        student_id=reader.student.id, date_from=date_from, date_to=date_to
    )


@router.post(
    "/students/{student_id}/absence-notes",
    operation_id="sendAbsenceNote",
    status_code=status.HTTP_201_CREATED,
)
async def send_absence_note(sending: SendableNote) -> AbsenceNoteOut:
    """A linked parent's note that the child is or was away on a day, for the class's
    teacher to accept or decline."""
    note = await service.send_note(
        parent=sending.parent,
        student=sending.student,
        school=sending.school,
        school_class=sending.school_class,
        day=sending.data.date,
        reason=sending.data.reason,
    )
    return AbsenceNoteOut.of(note)


@router.patch("/absence-notes/{note_id}", operation_id="decideAbsenceNote")
async def decide_absence_note(decision: DecidableNote) -> AbsenceNoteOut:
    """Accept (the day becomes excused) or decline a pending absence note (the class's
    teachers, the school's admin)."""
    note = await service.decide_note(
        note=decision.note, teacher=decision.teacher, status=NoteStatus(decision.data.status)
    )
    return AbsenceNoteOut.of(note)
