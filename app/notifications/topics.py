"""The topic registry: what producers tell the engine about each kind of notice they send.

A producer declares its topics in its own package and the entry points register them
(app/producers.py); the engine reads the registry at run time, so preferences, digests, the
preference centre, unsubscribe links and the OpenAPI descriptions follow whatever is
registered, and this package never names a producer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from beanie import PydanticObjectId
from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from app.auth.models import User
from app.core import i18n
from app.delivery import render


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


# Mail about the account itself (verification, resets): never subscribable, never in a
# preference, and no producer may take the name.
ACCOUNT_TOPIC = "account"

EmailData = dict[str, Any]


def _as_is(data: Mapping[str, Any], options: Mapping[str, bool]) -> EmailData:
    return dict(data)


def _no_group(data: Mapping[str, Any]) -> tuple[str, str | None] | None:
    return None


def _plain_item(
    data: Mapping[str, Any], title: str, body: str, options: Mapping[str, bool]
) -> dict[str, Any]:
    return {}


def _no_own_values(data: Mapping[str, Any], user: User) -> Mapping[str, str | None]:
    return {}


@dataclass(frozen=True)
class TopicOption:
    """A yes/no preference of the topic's own, stored at the top of the preferences."""

    name: str
    default: bool
    # For the API's documentation.
    description: str
    # The catalogue key of the preference centre's label.
    label: str


@dataclass(frozen=True)
class TopicDeclaration:
    """Everything the engine needs to carry one topic's notices, declared by its producer."""

    name: str
    # The typed payload of its notices; its fields are what the templates read.
    payload: type[BaseModel]
    # Its templates folder (with en/ and ru/ in it) and the email a notice sends from there.
    templates: Path
    email_template: str
    # Its strings: a folder of en.json and ru.json, merged into the shared catalogue.
    # The catalogue must hold `topics.<name>.name` and `topics.<name>.email`.
    locales: Path | None = None
    default_email: EmailFrequency = EmailFrequency.immediate
    default_in_app: bool = True
    options: tuple[TopicOption, ...] = ()
    # Catalogue keys of lines the preference centre shows under the topic: what else the
    # producer sends on it that is set elsewhere (rules a person keeps in the producer).
    hints: tuple[str, ...] = ()
    # The footer line saying why this reader got this notice, in their language.
    reason: Callable[[Mapping[str, Any], User], str] = lambda data, user: ""
    # Values an immediate email carries that differ from reader to reader beyond language
    # (the reader's own signed links, a time in their own zone), by template variable; None
    # for a reader who has none (a button only some readers may press). The email is still
    # rendered once per variant; these fill its holes.
    reader_values: Callable[[Mapping[str, Any], User], Mapping[str, str | None]] = _no_own_values
    # The payload as an email may show it, given the reader's option values.
    as_emailed: Callable[[Mapping[str, Any], Mapping[str, bool]], EmailData] = _as_is
    # In a digest: (key, heading) of the group a notice joins besides its topic, e.g. a child.
    digest_group: Callable[[Mapping[str, Any]], tuple[str, str | None] | None] = _no_group
    # In a digest: what the topic's `digest_item` template reads beyond when, title and body.
    digest_fields: Callable[[Mapping[str, Any], str, str, Mapping[str, bool]], dict[str, Any]] = (
        _plain_item
    )
    # Whether its templates folder has a digest_item template of its own (else a plain line).
    digest_item: bool = False
    # Told (the notice's key, its source_id) once every recipient of one of its notices has
    # it: at the end of publish(), or after the last chunk of a notice delivered in chunks.
    # May be told more than once (a chunk run again), so it must be idempotent.
    delivered: Callable[[str, PydanticObjectId | None], Awaitable[None]] | None = None

    def option_values(self, options: Mapping[str, bool]) -> dict[str, bool]:
        return {o.name: bool(options.get(o.name, o.default)) for o in self.options}


class UnknownTopic(KeyError):
    pass


class TopicRegistry:
    """The registered topics, in registration order."""

    def __init__(self) -> None:
        self._topics: dict[str, TopicDeclaration] = {}

    def register(self, declaration: TopicDeclaration) -> None:
        """Register a topic; registering the same declaration again changes nothing."""
        if self._topics.get(declaration.name) is declaration:
            return
        if declaration.name == ACCOUNT_TOPIC or declaration.name in self._topics:
            raise ValueError(f"topic {declaration.name!r} is already taken")
        taken = {o.name for t in self._topics.values() for o in t.options}
        clash = taken & {o.name for o in declaration.options}
        if clash:
            raise ValueError(f"options {sorted(clash)} are already another topic's")
        render.add_templates(declaration.name, declaration.templates)
        if declaration.locales is not None:
            i18n.add_catalogue(declaration.locales)
        self._topics[declaration.name] = declaration

    def unregister(self, name: str) -> None:
        """Take a topic out again (a test's own producer, once the test is over)."""
        declaration = self._topics.pop(name)
        render.remove_templates(name)
        if declaration.locales is not None:
            i18n.remove_catalogue(declaration.locales)

    def get(self, name: str) -> TopicDeclaration:
        try:
            return self._topics[name]
        except KeyError:
            raise UnknownTopic(name) from None

    def names(self) -> list[str]:
        """The subscribable topics, in registration order."""
        return list(self._topics)

    def all(self) -> list[TopicDeclaration]:
        return list(self._topics.values())

    def options(self) -> list[TopicOption]:
        return [option for topic in self._topics.values() for option in topic.options]

    def __contains__(self, name: object) -> bool:
        return name in self._topics


topics = TopicRegistry()


def register_all(declarations: Iterable[TopicDeclaration]) -> None:
    for declaration in declarations:
        topics.register(declaration)


def known(name: str, *, account: bool = False) -> str:
    """`name` if it is a registered topic (or `account`, when allowed), else ValueError."""
    if name in topics or (account and name == ACCOUNT_TOPIC):
        return name
    allowed = topics.names() + ([ACCOUNT_TOPIC] if account else [])
    raise ValueError(f"unknown topic {name!r}: use one of {', '.join(allowed)}")


@dataclass(frozen=True)
class _TopicName:
    """A topic name checked against the registry when it is read, and documented in
    OpenAPI with the topics registered when the schema is made."""

    account: bool
    # False in answers: a stored notification of a topic since removed still reads.
    checked: bool = True

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        if not self.checked:
            return core_schema.str_schema()
        return core_schema.no_info_after_validator_function(
            lambda name: known(name, account=self.account), core_schema.str_schema()
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        names = topics.names() + ([ACCOUNT_TOPIC] if self.account else [])
        return {"type": "string", "enum": names}


# A topic one may follow or choose in preferences.
SubscribableTopic = Annotated[str, _TopicName(account=False)]
# Any topic a notification may have, account mail's included.
AnyTopic = Annotated[str, _TopicName(account=True)]
# The topic of a stored notification or subscription, as an answer gives it.
TopicInAnswer = Annotated[str, _TopicName(account=True, checked=False)]
