"""The demo school's homework (app/demo.py loads it): tonight's, due the next school day, and
some set earlier, from the teachers' own subjects. Documents only, no notices."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from beanie import PydanticObjectId

from app.homework.models import Homework

# (subject, days from the next school day, text)
TASKS = (
    ("math", 0, "Exercises 214-217 on page 58: adding fractions with unlike denominators."),
    ("russian", 0, "Упражнение 112: спишите, расставляя пропущенные запятые."),
    ("literature", 3, "Read Pushkin's «Зимнее утро» aloud and learn the first two stanzas."),
    ("math", -3, "Exercises 201-205 on page 55."),
)


def next_school_day(today: date) -> date:
    day = today + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def demo_homework(
    *,
    school_id: PydanticObjectId,
    class_id: PydanticObjectId,
    authors: dict[str, PydanticObjectId],
    today: date,
) -> list[Homework]:
    """Homework for one class, set by the teacher of each subject (`authors`: subject -> id)."""
    due_first = next_school_day(today)
    homework = []
    for subject, offset, text in TASKS:
        due = due_first + timedelta(days=offset)
        set_on = datetime.combine(min(today, due - timedelta(days=1)), time(12, 0), tzinfo=UTC)
        homework.append(
            Homework(
                school_id=school_id,
                class_id=class_id,
                subject=subject,
                author_id=authors[subject],
                due=datetime.combine(due, time(), tzinfo=UTC),
                text=text,
                created_at=set_on,
                updated_at=set_on,
            )
        )
    return homework
