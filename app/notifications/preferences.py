"""Notification preferences, embedded in every user."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


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


class QuietHours(BaseModel):
    start: str
    end: str


class EmailTopics(BaseModel):
    grades: EmailFrequency = EmailFrequency.immediate
    announcements: EmailFrequency = EmailFrequency.immediate


class InAppTopics(BaseModel):
    grades: bool = True
    announcements: bool = True


class Preferences(BaseModel):
    email: EmailTopics = Field(default_factory=EmailTopics)
    in_app: InAppTopics = Field(default_factory=InAppTopics)
    digest_hour: int = 18
    digest_weekday: int = 5
    quiet_hours: QuietHours | None = None
    min_priority: Priority = Priority.low
    include_grade_values: bool = True
