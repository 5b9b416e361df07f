"""Notification preferences, embedded in every user, and the email decision they lead to."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, ClassVar

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


class EmailTopics(_Strict):
    grades: EmailFrequency = EmailFrequency.immediate
    announcements: EmailFrequency = EmailFrequency.immediate


class InAppTopics(_Strict):
    grades: bool = True
    announcements: bool = True


DigestHour = Annotated[int, Field(ge=0, le=23)]
IsoWeekday = Annotated[int, Field(ge=1, le=7, description="ISO weekday, 1 = Monday")]


class Preferences(_Strict):
    email: EmailTopics = Field(default_factory=EmailTopics)
    in_app: InAppTopics = Field(default_factory=InAppTopics)
    digest_hour: DigestHour = 18
    digest_weekday: IsoWeekday = 5
    quiet_hours: QuietHours | None = None
    min_priority: Priority = Priority.low
    include_grade_values: bool = True


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
    grades: EmailFrequency | None = None
    announcements: EmailFrequency | None = None


class InAppTopicsPatch(_Patch):
    grades: bool | None = None
    announcements: bool | None = None


class PreferencesPatch(_Patch):
    """Any subset of the preferences; topics merge one by one. quiet_hours: null clears it."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset({"quiet_hours"})

    email: EmailTopicsPatch | None = None
    in_app: InAppTopicsPatch | None = None
    digest_hour: DigestHour | None = None
    digest_weekday: IsoWeekday | None = None
    quiet_hours: QuietHours | None = None
    min_priority: Priority | None = None
    include_grade_values: bool | None = None

    def apply_to(self, current: Preferences) -> Preferences:
        merged = current.model_dump()
        for key, value in self.model_dump(exclude_unset=True).items():
            if key in ("email", "in_app") and value is not None:
                merged[key].update({k: v for k, v in value.items() if v is not None})
            elif value is not None or key == "quiet_hours":
                merged[key] = value
        return Preferences.model_validate(merged)
