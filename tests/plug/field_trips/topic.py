"""The field trips topic, declared as app/grades/topic.py declares grades."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from app.auth.models import User
from app.core.i18n import translate
from app.notifications.topics import EmailFrequency, TopicDeclaration, TopicOption

NAME = "field_trips"
SHOW_COST = "include_trip_cost"
HERE = Path(__file__).parent


class FieldTripPayload(BaseModel):
    trip_id: str
    destination: str
    date: str
    cost: int


def as_emailed(data: Mapping[str, Any], options: Mapping[str, bool]) -> dict[str, Any]:
    return dict(data) if options.get(SHOW_COST, True) else {**data, "cost": None}


def why(data: Mapping[str, Any], user: User) -> str:
    return translate(user.locale.value, "field_trips.reason", destination=data["destination"])


TOPIC = TopicDeclaration(
    name=NAME,
    payload=FieldTripPayload,
    templates=HERE / "templates",
    email_template="field_trip",
    locales=HERE / "locales",
    default_email=EmailFrequency.immediate,
    default_in_app=True,
    options=(
        TopicOption(
            name=SHOW_COST,
            default=True,
            description="false: field trip emails leave the cost out",
            label="field_trips.include_cost",
        ),
    ),
    reason=why,
    as_emailed=as_emailed,
)
