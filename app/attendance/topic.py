"""The attendance topic: what the notification engine needs to carry an absence notice,
declared here so the engine never names attendance (registered by app/producers.py)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from app.auth.models import User
from app.core.i18n import translate
from app.notifications.topics import TopicDeclaration

NAME = "attendance"
HERE = Path(__file__).parent


class AttendancePayload(BaseModel):
    """What an absence notice (or its correction) says; the attendance templates read these."""

    student_id: str
    student_name: str | None = None
    class_name: str | None = None
    school_name: str | None = None
    date: str
    # The lesson's period; None: the whole day.
    period: int | None = None
    # absent, or for a correction what the mark is now (present or late).
    status: str
    note: str | None = None
    corrected: bool = False


def why_this_notice(data: Mapping[str, Any], user: User) -> str:
    return translate(user.locale.value, "attendance.reason", student=data.get("student_name") or "")


TOPIC = TopicDeclaration(
    name=NAME,
    payload=AttendancePayload,
    templates=HERE / "templates",
    email_template="absence",
    locales=HERE / "locales",
    reason=why_this_notice,
)
