"""The emails a notification sends now (or at the end of its recipient's quiet hours)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.auth.models import User
from app.core.config import get_settings
from app.delivery.models import Email, EmailKind
from app.delivery.quiet_hours import quiet_hours_end
from app.delivery.render import render
from app.delivery.service import new_email
from app.delivery.unsubscribe import unsubscribe_headers, unsubscribe_url
from app.notifications.models import EmailDecision, Event, Notification, Topic
from app.notifications.preferences import Priority


def immediate_emails(
    event: Event, notified: Sequence[tuple[Notification, User]], *, now: datetime
) -> list[Email]:
    """One email per notification whose decision is `immediate`, keyed by (event, recipient)."""
    settings = get_settings()
    emails: list[Email] = []
    for notification, user in notified:
        if notification.email_decision != EmailDecision.immediate:
            continue
        assert user.id is not None
        not_before = now
        quiet = user.preferences.quiet_hours
        if quiet is not None and event.priority != Priority.critical:
            not_before = (
                quiet_hours_end(start=quiet.start, end=quiet.end, timezone=user.timezone, now=now)
                or now
            )
        link = unsubscribe_url(settings=settings, user_id=user.id, topics=[event.topic])
        context = {
            **event.data,
            "title": event.title,
            "body": event.body,
            "priority": event.priority.value,
            "unsubscribe_url": link,
        }
        if event.topic == Topic.grades and not user.preferences.include_grade_values:
            # A comment often gives the value away ("Excellent, a 5!"); digests hide it too.
            context["value"] = None
            context["comment"] = None
        announcement_id = event.data.get("announcement_id")
        emails.append(
            new_email(
                key=f"notification:{event.key}:{user.id}",
                kind=EmailKind.immediate,
                to=user.email,
                rendered=render(event.template, user.locale.value, **context),
                recipient_id=user.id,
                headers=unsubscribe_headers(link),
                not_before=not_before,
                school_id=event.school_id,
                announcement_id=announcement_id,
            )
        )
    return emails
