"""The emails a notification sends now (or at the end of its recipient's quiet hours)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.auth.models import User
from app.core.config import get_settings
from app.core.i18n import translate
from app.delivery.models import Email, EmailKind
from app.delivery.render import Draft, draft
from app.delivery.service import new_email
from app.notifications.links import preferences_url, unsubscribe_headers, unsubscribe_url
from app.notifications.models import EmailDecision, Event, Notification, Recipient, Topic
from app.notifications.preferences import Priority, grade_as_emailed
from app.notifications.quiet_hours import quiet_hours_end


def why_this_email(event: Event, user: User) -> str:
    """The footer line that says why this person got this email, in their language."""
    locale, data = user.locale.value, event.data
    if event.topic == Topic.grades:
        if str(user.id) == data.get("student_id"):
            return translate(locale, "reason.own_grade")
        if data.get("class_name"):
            return translate(
                locale,
                "reason.follow_student_class",
                student=data.get("student_name"),
                class_name=data["class_name"],
            )
        return translate(locale, "reason.follow_student", student=data.get("student_name"))
    return translate(locale, "reason.announcement", school=data.get("school_name") or "")


# The reader's own signed links: a hole in an email rendered once for many readers.
PER_READER = ("unsubscribe_url", "preferences_url")
# Critical email ignores every opt-out, so it offers no unsubscribe that could not stop it.
PER_READER_CRITICAL = ("preferences_url",)


def immediate_emails(
    event: Event, notified: Sequence[tuple[Notification, Recipient]], *, now: datetime
) -> list[Email]:
    """One email per notification whose decision is `immediate`, keyed by (event, recipient)."""
    settings = get_settings()
    emails: list[Email] = []
    # What differs between readers of one event: language, hidden grade values and the
    # reason line (a few kinds); everything else is rendered once per combination.
    drafts: dict[tuple[str, bool, str], Draft] = {}
    critical = event.priority == Priority.critical
    holes = PER_READER_CRITICAL if critical else PER_READER
    for notification, recipient in notified:
        if notification.email_decision != EmailDecision.immediate:
            continue
        user = recipient.user
        assert user.id is not None
        not_before = now
        quiet = recipient.preferences.quiet_hours
        if quiet is not None and not critical:
            not_before = (
                quiet_hours_end(start=quiet.start, end=quiet.end, timezone=user.timezone, now=now)
                or now
            )
        link = (
            None
            if critical
            else unsubscribe_url(settings=settings, user_id=user.id, topics=[event.topic])
        )
        hide_values = event.topic == Topic.grades and not recipient.preferences.include_grade_values
        reason = why_this_email(event, user)
        variant = (user.locale.value, hide_values, reason)
        if variant not in drafts:
            data = (
                grade_as_emailed(event.data, recipient.preferences) if hide_values else event.data
            )
            drafts[variant] = draft(
                event.template,
                user.locale.value,
                holes,
                **data,
                title=event.title,
                body=event.body,
                priority=event.priority.value,
                reason=reason,
            )
        per_reader = {"preferences_url": preferences_url(settings=settings, user_id=user.id)}
        if link is not None:
            per_reader["unsubscribe_url"] = link
        rendered = drafts[variant].fill(**per_reader)
        announcement_id = event.data.get("announcement_id")
        emails.append(
            new_email(
                key=f"notification:{event.key}:{user.id}",
                kind=EmailKind.immediate,
                to=user.email,
                rendered=rendered,
                recipient_id=user.id,
                headers=unsubscribe_headers(link) if link is not None else {},
                not_before=not_before,
                school_id=event.school_id,
                announcement_id=announcement_id,
            )
        )
    return emails
