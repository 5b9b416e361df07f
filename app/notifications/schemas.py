"""Request and response bodies for preferences, subscriptions and the inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import models_json_schema

from app.core.openapi import REF_TEMPLATE, RequiredWhenSent
from app.notifications.models import EmailDecision, Notification, Subscription, TargetType
from app.notifications.topics import (
    Priority,
    SubscribableTopic,
    TopicDeclaration,
    TopicInAnswer,
    topics,
)


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_type: TargetType = Field(description="What to follow: a student, a class or a school")
    target_id: str = Field(
        min_length=1, max_length=64, description="Its id", examples=["5eb7cf5a86d9755df3a6c593"]
    )
    topics: list[SubscribableTopic] | None = Field(
        default=None, min_length=1, description="Topics to follow; default every topic"
    )


class SubscriptionOut(BaseModel):
    id: str
    target_type: TargetType
    target_id: str
    school_id: str | None
    topics: list[TopicInAnswer]
    created_at: datetime

    @classmethod
    def of(cls, subscription: Subscription) -> SubscriptionOut:
        return cls(
            id=str(subscription.id),
            target_type=subscription.target_type,
            target_id=str(subscription.target_id),
            school_id=str(subscription.school_id) if subscription.school_id else None,
            topics=subscription.topics,
            created_at=subscription.created_at,
        )


class _NotificationFields(BaseModel):
    id: str
    priority: Priority
    title: str
    body: str
    email_decision: EmailDecision
    created_at: datetime
    read_at: datetime | None


# One documented notification per topic declaration, made once: a second class of the same
# name would reach the document under a longer, module-qualified name.
_documented: dict[int, tuple[TopicDeclaration, type[BaseModel]]] = {}


def _documented_notification(declaration: TopicDeclaration) -> type[BaseModel]:
    known = _documented.get(id(declaration))
    if known is not None and known[0] is declaration:
        return known[1]
    stem = declaration.payload.__name__.removesuffix("Payload")
    # `data` is what was stored when the notice was published: a notice older than a field
    # lacks it, so a field with a default is documented as it is read (may be absent), not as
    # the payload writes it today.
    data = type(
        f"{stem}Notice",
        (declaration.payload,),
        {
            "__module__": declaration.payload.__module__,
            "__doc__": declaration.payload.__doc__,
            "model_config": ConfigDict(json_schema_mode_override="validation"),
        },
    )
    notification = create_model(
        f"{stem}Notification",
        __base__=_NotificationFields,
        __module__=__name__,
        __doc__=f"A notification of topic `{declaration.name}`; `data` is its {stem}Notice.",
        topic=(Literal[declaration.name], ...),  # type: ignore[arg-type]
        data=(data, ...),
    )
    _documented[id(declaration)] = (declaration, notification)
    return notification


class NotificationOut(_NotificationFields):
    """A notification in the inbox; `data` is what its topic's producer declares, told apart
    by `topic`."""

    # Read as stored, so that a notification of a topic since removed still reads; the
    # document gives one shape per registered topic (document_notice_data).
    topic: TopicInAnswer
    data: dict[str, Any]

    @classmethod
    def of(cls, notification: Notification) -> NotificationOut:
        return cls(
            id=str(notification.id),
            topic=notification.topic,
            priority=notification.priority,
            title=notification.title,
            body=notification.body,
            data=notification.data,
            email_decision=notification.email_decision,
            created_at=notification.created_at,
            read_at=notification.read_at,
        )


class UnreadCount(BaseModel):
    count: int


def document_notice_data(spec: dict[str, Any]) -> None:
    """NotificationOut in the document as a union discriminated by `topic`: one shape per
    topic registered when the document is made, its `data` the payload the topic declares,
    so a generated client reads each producer's payload fields as typed fields."""
    schemas = spec.get("components", {}).get("schemas", {})
    name = next(
        (key for key, schema in schemas.items() if schema.get("title") == NotificationOut.__name__),
        None,
    )
    members = [_documented_notification(declaration) for declaration in topics.all()]
    if name is None or not members:
        return
    _, definitions = models_json_schema(
        [(member, "serialization") for member in members],
        ref_template=REF_TEMPLATE,
        schema_generator=RequiredWhenSent,
    )
    for key, schema in definitions.get("$defs", {}).items():
        schemas.setdefault(key, schema)
    mapping = {
        declaration.name: REF_TEMPLATE.format(model=member.__name__)
        for declaration, member in zip(topics.all(), members, strict=True)
    }
    schemas[name] = {
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "topic", "mapping": mapping},
        "title": NotificationOut.__name__,
        "description": NotificationOut.__doc__,
    }
