"""The homework topic: what the notification engine needs to carry a homework notice,
declared here so the engine never names homework (registered by app/producers.py)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from app.auth.models import Role, User
from app.core.i18n import translate
from app.notifications.topics import EmailFrequency, TopicDeclaration

NAME = "homework"
HERE = Path(__file__).parent


class HomeworkPayload(BaseModel):
    """What a homework notice says; the homework templates and the inbox's `data` read these."""

    homework_id: str
    class_id: str
    class_name: str | None = None
    school_name: str | None = None
    subject: str
    # The subject's name per language ("ru", "en"), each template reading its own.
    subject_name: dict[str, str]
    due: str
    text: str
    links: list[str]
    teacher_name: str | None = None
    changed: bool = False


def why_this_homework(data: Mapping[str, Any], user: User) -> str:
    key = "homework.reason_student" if user.role == Role.student else "homework.reason_parent"
    return translate(user.locale.value, key, class_name=data.get("class_name") or "")


TOPIC = TopicDeclaration(
    name=NAME,
    payload=HomeworkPayload,
    templates=HERE / "templates",
    email_template="homework",
    locales=HERE / "locales",
    # Homework is read in the evening, all of it at once: one digest, not a mail per subject.
    default_email=EmailFrequency.daily,
    reason=why_this_homework,
)
