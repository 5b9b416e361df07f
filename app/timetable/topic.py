"""The schedule topic: what the notification engine needs to carry a timetable change,
declared here so the engine never names the timetable (registered by app/producers.py)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, WithJsonSchema

from app.auth.models import Role, User
from app.core.i18n import translate
from app.notifications.topics import EmailFrequency, TopicDeclaration

NAME = "schedule"

# A title and a body. Documented as a two-string array with `items` rather than the
# `prefixItems` pydantic writes, which client generators and linters read as untyped.
TitleAndBody = Annotated[
    tuple[str, str],
    WithJsonSchema({"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2}),
]
HERE = Path(__file__).parent


class SchedulePayload(BaseModel):
    """A change to one lesson on one date; the templates and the inbox's `data` read these.
    `starts`, `ends`, `room` and `teacher_name` are the lesson as it will be, `was_*` as the
    weekly timetable has it."""

    change_id: str
    class_id: str
    class_name: str | None = None
    school_name: str | None = None
    date: str
    period: int
    kind: str
    subject: str
    # The subject's name in each language, so every reader reads it in theirs.
    subject_names: dict[str, str] = Field(default_factory=dict)
    starts: str
    ends: str
    was_starts: str
    was_ends: str
    room: str | None = None
    was_room: str | None = None
    teacher_name: str | None = None
    was_teacher_name: str | None = None
    # (title, body) per language, as the inbox words it: the email says the same.
    words: dict[str, TitleAndBody] = Field(default_factory=dict)


def why_this_change(data: Mapping[str, Any], user: User) -> str:
    key = "reason.schedule_own_class" if user.role == Role.student else "reason.schedule_child"
    return translate(user.locale.value, key, class_name=data.get("class_name") or "")


TOPIC = TopicDeclaration(
    name=NAME,
    payload=SchedulePayload,
    templates=HERE / "templates",
    email_template="schedule_change",
    locales=HERE / "locales",
    # A change is about the coming days: a digest could tell of it after the lesson.
    default_email=EmailFrequency.immediate,
    default_in_app=True,
    reason=why_this_change,
)
