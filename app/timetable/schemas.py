"""Request and response bodies of the timetable."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from app.core.db import ObjectIdField
from app.core.text import PLAIN_LINE
from app.timetable.models import ChangeKind, Lesson

MAX_PERIOD = 20
MAX_LESSONS = 7 * MAX_PERIOD
_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def _clock_time(value: str) -> str:
    if not _CLOCK.fullmatch(value):
        raise ValueError(f"{value!r} is not a time of day as HH:MM (e.g. 08:30)")
    return value


ClockTime = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=5),
    AfterValidator(_clock_time),
    Field(examples=["08:30"]),
]
Period = Annotated[int, Field(strict=True, ge=1, le=MAX_PERIOD, description="1 = first lesson")]
Weekday = Annotated[int, Field(strict=True, ge=1, le=7, description="ISO: 1 = Monday")]
Subject = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    PLAIN_LINE,
    Field(examples=["math"]),
]
Room = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50), PLAIN_LINE
]


def _ends_after_start(starts: str | None, ends: str | None) -> None:
    if starts is not None and ends is not None and ends <= starts:
        raise ValueError(f"ends {ends} is not after starts {starts}")


class LessonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weekday: Weekday
    period: Period
    starts: ClockTime = Field(description="When it starts, the school's time (HH:MM)")
    ends: ClockTime = Field(description="When it ends, after it starts (HH:MM)", examples=["09:15"])
    subject: Subject = Field(description="A subject the teacher teaches in this class")
    teacher_id: ObjectIdField = Field(description="A teacher of this class")
    room: Room | None = Field(default=None, description="Where, e.g. 12 or Gym")

    @model_validator(mode="after")
    def _times_in_order(self) -> LessonIn:
        _ends_after_start(self.starts, self.ends)
        return self


class TimetableIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lessons: list[LessonIn] = Field(max_length=MAX_LESSONS, description="The whole week")

    @model_validator(mode="after")
    def _one_lesson_per_period(self) -> TimetableIn:
        seen: set[tuple[int, int]] = set()
        for lesson in self.lessons:
            slot = (lesson.weekday, lesson.period)
            if slot in seen:
                raise ValueError(
                    f"period {lesson.period} appears twice on weekday {lesson.weekday}"
                )
            seen.add(slot)
        return self


class LessonOut(BaseModel):
    weekday: int
    period: int
    starts: str
    ends: str
    subject: str
    teacher_id: str
    room: str | None

    @classmethod
    def of(cls, lesson: Lesson) -> LessonOut:
        return cls(
            weekday=lesson.weekday,
            period=lesson.period,
            starts=lesson.starts,
            ends=lesson.ends,
            subject=lesson.subject,
            teacher_id=str(lesson.teacher_id),
            room=lesson.room,
        )


class TimetableOut(BaseModel):
    class_id: str
    lessons: list[LessonOut]


# What each kind of change must say, and may not: a substitute names a teacher, and only that.
CHANGE_FIELDS: dict[ChangeKind, tuple[str, ...]] = {
    ChangeKind.cancelled: (),
    ChangeKind.substitute: ("teacher_id",),
    ChangeKind.room: ("room",),
    ChangeKind.time: ("starts", "ends"),
}
_OPTIONAL_FIELDS = ("teacher_id", "room", "starts", "ends")


class ChangeIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        # Whole, since which fields a change takes depends on its kind.
        json_schema_extra={
            "examples": [{"date": "2030-09-02", "period": 1, "kind": "room", "room": "14"}]
        },
    )

    date: dt.date = Field(description="The lesson's date (YYYY-MM-DD)")
    period: Period
    kind: ChangeKind = Field(
        description="cancelled; substitute (teacher_id); room (room); time (starts and ends)"
    )
    teacher_id: ObjectIdField | None = Field(default=None, description="substitute: who stands in")
    room: Room | None = Field(default=None, description="room: where the lesson moves")
    starts: ClockTime | None = Field(default=None, description="time: the new start")
    ends: ClockTime | None = Field(default=None, description="time: the new end")

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> ChangeIn:
        needed = CHANGE_FIELDS[self.kind]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind.value} change needs {' and '.join(missing)}")
        extra = [n for n in _OPTIONAL_FIELDS if n not in needed and getattr(self, n) is not None]
        if extra:
            raise ValueError(f"a {self.kind.value} change takes no {' or '.join(extra)}")
        _ends_after_start(self.starts, self.ends)
        return self


class ChangeOut(BaseModel):
    id: str
    class_id: str
    date: dt.date
    period: int
    kind: ChangeKind
    teacher_id: str | None
    room: str | None
    starts: str | None
    ends: str | None
    # Whether the class's students and parents are told (the date is within the next 7 days).
    notified: bool


class LessonChange(BaseModel):
    """What changed for this date, and what the lesson was before."""

    kinds: list[ChangeKind]
    was: dict[str, str | None] = Field(
        description="The weekly lesson's starts, ends, teacher_id and room"
    )


class DayLesson(BaseModel):
    period: int
    starts: str
    ends: str
    subject: str
    subject_name: str
    class_id: str
    class_name: str | None
    teacher_id: str
    room: str | None
    cancelled: bool = False
    change: LessonChange | None = None


class Day(BaseModel):
    date: dt.date
    lessons: list[DayLesson]


class Week(BaseModel):
    week: str = Field(examples=["2026-W49"])
    days: list[Day]
