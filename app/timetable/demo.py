"""The demo school's week (app/demo.py): 5A and 6B get this week's lessons, and 5A's
literature on Wednesday is cancelled, so a parent's morning has a change to read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from beanie import PydanticObjectId

from app.schools.models import SchoolClass
from app.timetable import repository, weeks
from app.timetable.models import ChangeKind, ClassTimetable, Lesson, TimetableChange

PERIODS = (("08:30", "09:15"), ("09:25", "10:10"), ("10:30", "11:15"), ("11:35", "12:20"))
# class name -> weekday -> the subjects of its periods, in order
DEMO_WEEK: dict[str, dict[int, tuple[str, ...]]] = {
    "5A": {
        1: ("math", "russian", "literature", "math"),
        2: ("russian", "math", "math", "literature"),
        3: ("math", "russian", "literature"),
        4: ("literature", "math", "russian"),
        5: ("math", "russian", "math"),
    },
    "6B": {weekday: ("math", "math") for weekday in range(1, 6)},
}
ROOMS = {"5A": "12", "6B": "21"}
CANCELLED = ("5A", 3, 3)  # class, weekday, period: Wednesday's literature


def _teacher_of(school_class: SchoolClass, subject: str) -> PydanticObjectId:
    return next(a.teacher_id for a in school_class.teachers if subject in a.subjects)


def demo_timetables(
    school_id: PydanticObjectId, classes: Sequence[SchoolClass]
) -> list[ClassTimetable]:
    return [
        ClassTimetable(
            id=school_class.id,
            school_id=school_id,
            lessons=[
                Lesson(
                    weekday=weekday,
                    period=period,
                    starts=PERIODS[period - 1][0],
                    ends=PERIODS[period - 1][1],
                    subject=subject,
                    teacher_id=_teacher_of(school_class, subject),
                    room=ROOMS[school_class.name],
                )
                for weekday, subjects in DEMO_WEEK[school_class.name].items()
                for period, subject in enumerate(subjects, start=1)
            ],
        )
        for school_class in classes
        if school_class.name in DEMO_WEEK
    ]


async def add_demo_week(
    *,
    school_id: PydanticObjectId,
    classes: Sequence[SchoolClass],
    admin_id: PydanticObjectId,
    today: date,
) -> None:
    """The demo classes' weekly timetables and the Wednesday change of `today`'s week (the
    school's today)."""
    monday = today - timedelta(days=today.isoweekday() - 1)
    class_name, weekday, period = CANCELLED
    cancelled_in = next(c for c in classes if c.name == class_name)
    await repository.insert_demo(
        demo_timetables(school_id, classes),
        [
            TimetableChange(
                school_id=school_id,
                class_id=cancelled_in.id,
                date=weeks.as_stored(monday + timedelta(days=weekday - 1)),
                period=period,
                kind=ChangeKind.cancelled,
                created_by=admin_id,
            )
        ],
    )


async def remove_demo_week(school_ids: Sequence[PydanticObjectId]) -> None:
    """What a demo load cut short left of the week."""
    await repository.delete_of_schools(school_ids)
