"""Notification preferences: per topic maps of email frequency and in-app switch, plus the
topics' own options, all checked against the topic registry at run time."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from app.notifications.topics import EmailFrequency, Priority, known, topics

PRIORITY_RANK = {Priority.low: 0, Priority.normal: 1, Priority.high: 2, Priority.critical: 3}

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: str = Field(
        description="HH:MM in the user's time zone",
        examples=["21:00"],
        json_schema_extra={"pattern": _CLOCK.pattern},
    )
    end: str = Field(
        description="HH:MM; may be earlier than start (wraps past midnight)",
        examples=["07:00"],
        json_schema_extra={"pattern": _CLOCK.pattern},
    )

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

DigestHour = Annotated[int, Field(ge=0, le=23)]
IsoWeekday = Annotated[int, Field(ge=1, le=7, description="ISO weekday, 1 = Monday")]


def _known_topics(values: Mapping[str, Any]) -> None:
    for name in values:
        known(name)


def _topic_map_schema(value: dict[str, Any], description: str, *, sent: bool) -> dict[str, Any]:
    """An object with one property per registered topic, as the registry has them now;
    an answer (`sent`) always carries every topic."""
    schema: dict[str, Any] = {
        "type": "object",
        "description": description,
        "properties": {name: dict(value) for name in topics.names()},
        "additionalProperties": False,
    }
    if sent:
        schema["required"] = topics.names()
    return schema


def _reference_in(schema: Any) -> dict[str, Any] | None:
    """The first reference to a named schema inside `schema`."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return {"$ref": schema["$ref"]}
        schema = list(schema.values())
    if isinstance(schema, list):
        for item in schema:
            if (found := _reference_in(item)) is not None:
                return found
    return None


def _describe_topics(
    schema: JsonSchemaValue, *, nullable: bool, sent: bool = False
) -> JsonSchemaValue:
    """Spell out the topic maps and the topics' options from the registry, in place; in an
    answer (`sent`) every topic and every option is there."""
    properties = schema.setdefault("properties", {})
    # One EmailFrequency type for every topic, as the field declares it, rather than an
    # enum of its own per topic that a generated client names after the topic.
    frequency = _reference_in(properties.get("email")) or {
        "enum": [f.value for f in EmailFrequency],
        "type": "string",
    }
    frequency = {**frequency, "description": _FREQUENCY}
    switch: dict[str, Any] = {"type": "boolean", "description": _IN_APP}
    for name, value, description in (
        ("email", frequency, "Email, per topic"),
        ("in_app", switch, "Inbox, per topic"),
    ):
        described = _topic_map_schema(value, description, sent=sent)
        properties[name] = (
            {"anyOf": [described, {"type": "null"}], "description": description}
            if nullable
            else described
        )
    for option in topics.options():
        option_schema: dict[str, Any] = {"type": "boolean", "description": option.description}
        if nullable:
            option_schema = {
                "anyOf": [{"type": "boolean"}, {"type": "null"}],
                "description": option.description,
            }
        else:
            option_schema["default"] = option.default
        properties[option.name] = option_schema
        if sent:
            schema.setdefault("required", []).append(option.name)
    schema["additionalProperties"] = False
    return schema


class Preferences(BaseModel):
    """Email and inbox per topic, digest times, quiet hours, and the topics' own options
    (each declared with its topic), which sit at the top level."""

    # Extra keys are the topics' options, checked against the registry below.
    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, bool] = Field(init=False)

    # Validated even when left out, so every registered topic gets its default.
    email: dict[str, EmailFrequency] = Field(
        default_factory=dict, description="Email, per topic", validate_default=True
    )
    in_app: dict[str, bool] = Field(
        default_factory=dict, description="Inbox, per topic", validate_default=True
    )
    digest_hour: DigestHour = Field(default=18, description=_DIGEST_HOUR)
    digest_weekday: IsoWeekday = 5
    quiet_hours: QuietHours | None = Field(default=None, description=_QUIET_HOURS)
    min_priority: Priority = Field(default=Priority.low, description=_MIN_PRIORITY)

    @field_validator("email", mode="after")
    @classmethod
    def _every_email_topic(cls, value: dict[str, EmailFrequency]) -> dict[str, EmailFrequency]:
        # A topic missing (a stored document older than the topic) reads its default.
        _known_topics(value)
        return {t.name: value.get(t.name, t.default_email) for t in topics.all()}

    @field_validator("in_app", mode="after")
    @classmethod
    def _every_in_app_topic(cls, value: dict[str, bool]) -> dict[str, bool]:
        _known_topics(value)
        return {t.name: value.get(t.name, t.default_in_app) for t in topics.all()}

    @model_validator(mode="after")
    def _every_option(self) -> Preferences:
        extra = self.__pydantic_extra__ or {}
        defaults = {option.name: option.default for option in topics.options()}
        unknown = sorted(set(extra) - set(defaults))
        if unknown:
            raise ValueError(f"unknown preferences: {', '.join(unknown)}")
        self.__pydantic_extra__ = {name: extra.get(name, d) for name, d in defaults.items()}
        return self

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        return _describe_topics(schema, nullable=False, sent=handler.mode == "serialization")

    @property
    def options(self) -> dict[str, bool]:
        """The topics' own options, each with its value or default."""
        return dict(self.__pydantic_extra__ or {})

    def email_for(self, topic: str) -> EmailFrequency:
        return self.email.get(topic) or topics.get(topic).default_email

    def in_app_for(self, topic: str) -> bool:
        value = self.in_app.get(topic)
        return topics.get(topic).default_in_app if value is None else value


class _Patch(BaseModel):
    """Fields left out keep their value; only those listed in NULLABLE may be sent as null."""

    model_config = ConfigDict(extra="forbid")
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


class PreferencesPatch(_Patch):
    """Any subset of the preferences; topics merge one by one. quiet_hours: null clears it."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, bool] = Field(init=False)
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"quiet_hours"})

    email: dict[str, EmailFrequency] | None = Field(default=None, description="Email, per topic")
    in_app: dict[str, bool] | None = Field(default=None, description="Inbox, per topic")
    digest_hour: DigestHour | None = Field(default=None, description=_DIGEST_HOUR)
    digest_weekday: IsoWeekday | None = Field(
        default=None, description="Day weekly digests are sent: 1 Monday to 7 Sunday"
    )
    quiet_hours: QuietHours | None = Field(default=None, description=f"{_QUIET_HOURS}; null clears")
    min_priority: Priority | None = Field(default=None, description=_MIN_PRIORITY)

    @field_validator("email", "in_app", mode="after")
    @classmethod
    def _known(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            _known_topics(value)
        return value

    @model_validator(mode="after")
    def _known_options(self) -> PreferencesPatch:
        names = {option.name for option in topics.options()}
        unknown = sorted(set(self.__pydantic_extra__ or {}) - names)
        if unknown:
            raise ValueError(f"unknown preferences: {', '.join(unknown)}")
        return self

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        return _describe_topics(schema, nullable=True)

    def apply_to(self, current: Preferences) -> Preferences:
        merged = current.model_dump()
        for key, value in self.model_dump(exclude_unset=True).items():
            if key in ("email", "in_app") and value is not None:
                merged[key].update(value)
            elif value is not None or key == "quiet_hours":
                merged[key] = value
        return Preferences.model_validate(merged)
