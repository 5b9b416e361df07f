"""Request and response bodies for preferences, subscriptions and the inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.notifications.models import EmailDecision, Notification, Subscription, TargetType
from app.notifications.topics import Priority, SubscribableTopic, TopicInAnswer


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_type: TargetType = Field(description="What to follow: a student, a class or a school")
    target_id: str = Field(min_length=1, max_length=64, description="Its id")
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


class NotificationOut(BaseModel):
    id: str
    topic: TopicInAnswer
    priority: Priority
    title: str
    body: str
    data: dict[str, Any]
    email_decision: EmailDecision
    created_at: datetime
    read_at: datetime | None

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
