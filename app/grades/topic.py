"""The grades topic: what the notification engine needs to carry a grade notice, declared
here so the engine never names grades (registered by app/producers.py)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from app.auth.models import User
from app.core.i18n import translate
from app.notifications.topics import TopicDeclaration, TopicOption

NAME = "grades"
SHOW_VALUES = "include_grade_values"
HERE = Path(__file__).parent


class GradePayload(BaseModel):
    """What a grade notice says; grade templates and the inbox's `data` read these fields."""

    grade_id: str | None = None
    student_id: str | None = None
    student_name: str | None = None
    subject: str
    # The subject's name per language (the school's list), for the reader's own.
    subject_names: dict[str, str] = Field(default_factory=dict)
    value: int | str | None
    kind: str
    date: str
    teacher_name: str | None = None
    comment: str | None = None
    school_name: str | None = None
    class_name: str | None = None
    changed: bool = False


def grade_as_emailed(data: Mapping[str, Any], options: Mapping[str, bool]) -> dict[str, Any]:
    """A grade notice's fields as an email may show them: without the value, and without the
    comment (which often gives the value away, "Excellent, a 5!"), for a reader who keeps
    grade values out of email. Immediate mail and digests both word grades from this."""
    if options.get(SHOW_VALUES, True):
        return dict(data)
    return {**data, "value": None, "comment": None}


def why_this_grade(data: Mapping[str, Any], user: User) -> str:
    locale = user.locale.value
    if str(user.id) == data.get("student_id"):
        return translate(locale, "reason.own_grade")
    if data.get("class_name"):
        return translate(
            locale,
            "reason.follow_student_class",
            student=data.get("student_name"),
            class_name=data["class_name"],
        )
    return translate(locale, "reason.follow_student", student=data.get("student_name"))


def child_of(data: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """A digest groups grades by child: by id, as two children may share a name."""
    child = data.get("student_name")
    return str(data.get("student_id") or child), child


def digest_line(
    data: Mapping[str, Any], title: str, body: str, options: Mapping[str, bool]
) -> dict[str, Any]:
    """A grade's digest line from its fields, so the template words it per locale."""
    shown = grade_as_emailed(data, options)
    if "subject" in shown:
        return {
            "grade": {
                "subject": shown["subject"],
                "subject_names": shown.get("subject_names") or {},
                "value": shown.get("value"),
                "comment": shown.get("comment"),
                "kind": shown.get("kind") or "",
                "teacher": shown.get("teacher_name"),
                "changed": bool(shown.get("changed")),
            }
        }
    if not options.get(SHOW_VALUES, True):
        return {"grade": None, "body": None}  # the body of a grade notification states it
    return {"grade": None}


TOPIC = TopicDeclaration(
    name=NAME,
    payload=GradePayload,
    templates=HERE / "templates",
    email_template="grade",
    locales=HERE / "locales",
    options=(
        TopicOption(
            name=SHOW_VALUES,
            default=True,
            description="false: grade emails say a grade was given, not which",
            label="preferences.include_grade_values",
        ),
    ),
    reason=why_this_grade,
    as_emailed=grade_as_emailed,
    digest_group=child_of,
    digest_fields=digest_line,
    digest_item=True,
)
