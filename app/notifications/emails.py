"""The emails a notification sends now (or at the end of its recipient's quiet hours)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.auth.models import User
from app.core.config import get_settings
from app.delivery.models import Email, EmailKind
from app.delivery.render import Draft, draft
from app.delivery.service import new_email
from app.notifications.links import preferences_url, unsubscribe_headers, unsubscribe_url
from app.notifications.models import EmailDecision, Notice, Notification, Recipient
from app.notifications.quiet_hours import quiet_hours_end
from app.notifications.topics import Priority, topics


def why_this_email(notice: Notice, user: User) -> str:
    """The footer line that says why this person got this email, in their language."""
    return topics.get(notice.topic).reason(notice.data, user)


# The reader's own signed links: a hole in an email rendered once for many readers.
PER_READER = ("unsubscribe_url", "preferences_url")
# Critical email ignores every opt-out, so it offers no unsubscribe that could not stop it.
PER_READER_CRITICAL = ("preferences_url",)


def immediate_emails(
    notice: Notice, notified: Sequence[tuple[Notification, Recipient]], *, now: datetime
) -> list[Email]:
    """One email per notification whose decision is `immediate`, keyed by (notice, recipient)."""
    settings = get_settings()
    topic = topics.get(notice.topic)
    emails: list[Email] = []
    # What differs between readers of one notice: language, the topic's options (grade
    # values shown or not) and the reason line; everything else is rendered once per
    # combination.
    drafts: dict[tuple[str, tuple[tuple[str, bool], ...], str, tuple[str, ...]], Draft] = {}
    critical = notice.priority == Priority.critical
    holes = PER_READER_CRITICAL if critical else PER_READER
    for notification, recipient in notified:
        if notification.email_decision != EmailDecision.immediate:
            continue
        user = recipient.user
        assert user.id is not None
        not_before = max(now, notice.send_after) if notice.send_after else now
        quiet = recipient.preferences.quiet_hours
        if quiet is not None and not critical:
            not_before = (
                quiet_hours_end(
                    start=quiet.start, end=quiet.end, timezone=user.timezone, now=not_before
                )
                or not_before
            )
        if notice.email_until is not None and not_before >= notice.email_until:
            continue  # by the end of the quiet hours it would be news too late to matter
        link = (
            None
            if critical
            else unsubscribe_url(settings=settings, user_id=user.id, topics=[notice.topic])
        )
        options = topic.option_values(recipient.preferences.options)
        reason = why_this_email(notice, user)
        links = topic.reader_values(notice.data, user)
        own_links = tuple(sorted(name for name, value in links.items() if value is not None))
        # Which of the topic's values a reader has steers the template: part of the variant.
        variant = (user.locale.value, tuple(sorted(options.items())), reason, own_links)
        if variant not in drafts:
            drafts[variant] = draft(
                f"{topic.name}/{topic.email_template}",
                user.locale.value,
                holes + own_links,
                **{name: None for name, url in links.items() if url is None},
                **topic.as_emailed(notice.data, options),
                title=notice.title,
                body=notice.body,
                priority=notice.priority.value,
                reason=reason,
            )
        per_reader = {"preferences_url": preferences_url(settings=settings, user_id=user.id)}
        per_reader.update({name: str(links[name]) for name in own_links})
        if link is not None:
            per_reader["unsubscribe_url"] = link
        rendered = drafts[variant].fill(**per_reader)
        emails.append(
            new_email(
                key=f"notification:{notice.key}:{user.id}",
                kind=EmailKind.immediate,
                to=user.email,
                rendered=rendered,
                recipient_id=user.id,
                headers=unsubscribe_headers(link) if link is not None else {},
                not_before=not_before,
                school_id=notice.school_id,
                source_id=notice.source_id,
                attachments=notice.attachments,
            )
        )
    return emails
