"""The demo school's attendance (app/demo.py loads it): one absence on the last school day
before today. Documents only, no notices."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from beanie import PydanticObjectId

from app.attendance.models import AttendanceMark, MarkStatus


def last_school_day(today: date) -> date:
    day = today - timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def demo_absence(
    *,
    school_id: PydanticObjectId,
    class_id: PydanticObjectId,
    student_id: PydanticObjectId,
    teacher_id: PydanticObjectId,
    today: date,
) -> AttendanceMark:
    """The student absent for the whole of the last school day."""
    day = last_school_day(today)
    return AttendanceMark(
        school_id=school_id,
        class_id=class_id,
        student_id=student_id,
        date=datetime.combine(day, time(), tzinfo=UTC),
        status=MarkStatus.absent,
        marked_by=teacher_id,
        updated_at=datetime.combine(day, time(9, 0), tzinfo=UTC),
    )
