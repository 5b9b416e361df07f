"""Notification preferences, embedded in every user, and the email decision they lead to."""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class EmailFrequency(StrEnum):
    immediate = "immediate"
    daily = "daily"
    weekly = "weekly"
    off = "off"


class Priority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    critical = "critical"


PRIORITY_RANK = {Priority.low: 0, Priority.normal: 1, Priority.high: 2, Priority.critical: 3}

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuietHours(_Strict):
    start: str = Field(description="HH:MM in the user's time zone", examples=["21:00"])
    end: str = Field(description="HH:MM; may be earlier than start (wraps past midnight)")

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError("must be a time of day as HH:MM, 00:00 to 23:59")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet hours start and end must differ")
        return self

    @staticmethod
    def minutes(clock: str) -> int:
        hours, minutes = clock.split(":")
        return int(hours) * 60 + int(minutes)


_FREQUENCY = "Email for this topic: immediate, daily or weekly (a digest), or off"
_IN_APP = "Whether this topic reaches the in-app inbox (critical always does)"
_DIGEST_HOUR = "Hour of the day (0 to 23, your time zone) digests are sent at"
_QUIET_HOURS = "No immediate email in this window; it waits until the window ends"
_MIN_PRIORITY = "Below this priority (low, normal, high) nothing is emailed; critical always is"
_GRADE_VALUES = "false: grade emails say a grade was given, not which"


class EmailTopics(_Strict):
    grades: EmailFrequency = Field(default=EmailFrequency.immediate, description=_FREQUENCY)
    announcements: EmailFrequency = Field(default=EmailFrequency.immediate, description=_FREQUENCY)


class InAppTopics(_Strict):
    grades: bool = Field(default=True, description=_IN_APP)
    announcements: bool = Field(default=True, description=_IN_APP)


DigestHour = Annotated[int, Field(ge=0, le=23)]
IsoWeekday = Annotated[int, Field(ge=1, le=7, description="ISO weekday, 1 = Monday")]


class Preferences(_Strict):
    email: EmailTopics = Field(default_factory=EmailTopics, description="Email, per topic")
    in_app: InAppTopics = Field(default_factory=InAppTopics, description="Inbox, per topic")
    digest_hour: DigestHour = Field(default=18, description=_DIGEST_HOUR)
    digest_weekday: IsoWeekday = 5
    quiet_hours: QuietHours | None = Field(default=None, description=_QUIET_HOURS)
    min_priority: Priority = Field(default=Priority.low, description=_MIN_PRIORITY)
    include_grade_values: bool = Field(default=True, description=_GRADE_VALUES)


class _Patch(_Strict):
    """Fields left out keep their value; only those listed in NULLABLE may be sent as null."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> _Patch:
        nulls = sorted(
            name
            for name in self.model_fields_set
            if getattr(self, name) is None and name not in self.NULLABLE
        )
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null; leave it out to keep it")
        return self


class EmailTopicsPatch(_Patch):
    grades: EmailFrequency | None = Field(default=None, description=_FREQUENCY)
    announcements: EmailFrequency | None = Field(default=None, description=_FREQUENCY)


class InAppTopicsPatch(_Patch):
    grades: bool | None = Field(default=None, description=_IN_APP)
    announcements: bool | None = Field(default=None, description=_IN_APP)


class PreferencesPatch(_Patch):
    """Any subset of the preferences; topics merge one by one. quiet_hours: null clears it."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset({"quiet_hours"})

    email: EmailTopicsPatch | None = Field(default=None, description="Email, per topic")
    in_app: InAppTopicsPatch | None = Field(default=None, description="Inbox, per topic")
    digest_hour: DigestHour | None = Field(default=None, description=_DIGEST_HOUR)
    digest_weekday: IsoWeekday | None = Field(
        default=None, description="Day weekly digests are sent: 1 Monday to 7 Sunday"
    )
    quiet_hours: QuietHours | None = Field(default=None, description=f"{_QUIET_HOURS}; null clears")
    min_priority: Priority | None = Field(default=None, description=_MIN_PRIORITY)
    include_grade_values: bool | None = Field(default=None, description=_GRADE_VALUES)

    def apply_to(self, current: Preferences) -> Preferences:
        merged = current.model_dump()
        for key, value in self.model_dump(exclude_unset=True).items():
            if key in ("email", "in_app") and value is not None:
                merged[key].update({k: v for k, v in value.items() if v is not None})
            elif value is not None or key == "quiet_hours":
                merged[key] = value
        return Preferences.model_validate(merged)


def grade_as_emailed(data: Mapping[str, Any], preferences: Preferences) -> dict[str, Any]:
    """A grade notice's fields as an email may show them: without the value, and without the
    comment (which often gives the value away, "Excellent, a 5!"), for a reader who keeps
    grade values out of email. Immediate mail and digests both word grades from this."""
    if preferences.include_grade_values:
        return dict(data)
    return {**data, "value": None, "comment": None}
