"""The answers to an event as a spreadsheet, in the reader's language and time zone."""

from __future__ import annotations

from fastapi import Response

from app.auth import directory
from app.auth.models import User
from app.core.i18n import format_datetime, translate
from app.core.security import as_utc
from app.core.spreadsheets import Cell, SpreadsheetKind, spreadsheet_response
from app.events import repository
from app.events.models import Event
from app.schools import service as schools

COLUMNS = ("name", "classes", "children", "answer", "status", "guests", "comment", "time")


async def answers_file(*, event: Event, reader: User, kind: SpreadsheetKind) -> Response:
    """Every answer with the person's name, their children and classes: three queries
    however many answers there are."""
    locale = reader.locale.value
    rows = await repository.all_answers(event.id)
    children = sorted({s for r in rows for s in r.student_ids})
    names = await directory.full_names([*(r.user_id for r in rows), *children])
    school = await schools.school_by_id(event.school_id)
    class_of = {
        student: c.name
        for c in (school.classes if school is not None else [])
        for student in c.student_ids
    }
    table: list[list[Cell]] = []
    for r in rows:
        classes = sorted({class_of[s] for s in [r.user_id, *r.student_ids] if s in class_of})
        table.append(
            [
                names.get(r.user_id, ""),
                ", ".join(classes),
                ", ".join(names.get(s, "") for s in r.student_ids),
                translate(locale, f"event.answer.{r.answer.value}"),
                translate(locale, f"event.status.{r.status.value}"),
                r.guests,
                r.comment,
                format_datetime(as_utc(r.updated_at), locale, reader.timezone),
            ]
        )
    header = [translate(locale, f"event.export.{c}") for c in COLUMNS]
    filename = f"{translate(locale, 'event.export.file')} {event.title}"
    return spreadsheet_response(kind, filename, header, table)
