"""Immediate emails of one event: rendered once per kind of reader, yet each reader's email is
exactly what rendering it for them alone gives (their language, links and reason)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from beanie import PydanticObjectId

from app.announcements.topic import AnnouncementPayload
from app.auth.models import Locale, Role, User
from app.core import page_tokens
from app.core.config import get_settings
from app.delivery import render as render_module
from app.delivery.render import Rendered, render
from app.grades.topic import GradePayload, grade_as_emailed
from app.notifications.emails import immediate_emails, why_this_email
from app.notifications.links import preferences_url, unsubscribe_url
from app.notifications.models import EmailDecision, Notice, Notification, Recipient
from app.notifications.preferences import Preferences
from app.notifications.topics import topics

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
STUDENT_ID = PydanticObjectId()


def grade_event() -> Notice:
    return Notice(
        key="grade:1:1",
        topic="grades",
        title="New grade",
        body="5 in Maths",
        payload=GradePayload(
            student_id=str(STUDENT_ID),
            student_name="Anna <Petrova>",
            subject="Maths & Physics",
            value="5",
            kind="test",
            comment="Excellent, a 5!",
            teacher_name="Ivan Ivanov",
            class_name="5A",
            date="2026-12-01",
            changed=False,
            school_name="School 1",
        ),
    )


def reader(n: int, locale: Locale, *, hide: bool, user_id: PydanticObjectId | None = None) -> Any:
    user = User(
        id=user_id or PydanticObjectId(),
        email=f"reader{n}@example.org",
        full_name=f"Reader {n}",
        role=Role.parent,
        password_hash="-",
        locale=locale,
    )
    preferences = Preferences(include_grade_values=not hide)
    return Recipient(user, preferences)


def alone(event: Notice, recipient: Recipient) -> Rendered:
    """The email as rendering it for this one reader gives."""
    settings = get_settings()
    user = recipient.user
    assert user.id is not None
    data = grade_as_emailed(event.data, recipient.preferences.options)
    return render(
        f"{event.topic}/{topics.get(event.topic).email_template}",
        user.locale.value,
        **data,
        title=event.title,
        body=event.body,
        priority=event.priority.value,
        unsubscribe_url=unsubscribe_url(settings=settings, user_id=user.id, topics=[event.topic]),
        preferences_url=preferences_url(settings=settings, user_id=user.id),
        reason=why_this_email(event, user),
    )


@pytest.mark.usefixtures("app")
async def test_each_reader_gets_their_own_email_from_a_few_renderings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    original = render_module.render

    def counting_render(name: str, locale: str, **context: Any) -> Rendered:
        calls.append(locale)
        return original(name, locale, **context)

    monkeypatch.setattr(render_module, "render", counting_render)
    # Links carry their expiry: one clock for both ways of rendering.
    monkeypatch.setattr(page_tokens, "utcnow", lambda: NOW)
    event = grade_event()
    readers = [reader(n, Locale.ru if n % 2 else Locale.en, hide=n % 3 == 0) for n in range(1, 31)]
    readers.append(reader(0, Locale.ru, hide=False, user_id=STUDENT_ID))  # the student
    notified = [
        (
            Notification(
                event_key=event.key,
                recipient_id=r.user.id,
                topic=event.topic,
                title=event.title,
                body=event.body,
                email_decision=EmailDecision.immediate,
            ),
            r,
        )
        for r in readers
    ]

    written = immediate_emails(event, notified, now=NOW)

    assert len(written) == len(readers)
    # Two languages × values shown or hidden, plus the student's own-grade reason.
    assert len(calls) == 5
    monkeypatch.setattr(render_module, "render", original)
    for email, recipient in zip(written, readers, strict=True):
        expected = alone(event, recipient)
        assert (email.subject, email.text, email.html) == (
            expected.subject,
            expected.text,
            expected.html,
        )
        assert email.to == recipient.user.email
    # Links are the reader's own: nobody's email carries another's.
    links = {e.text.split("/unsubscribe?token=")[1].split()[0] for e in written}
    assert len(links) == len(readers)


@pytest.mark.usefixtures("app")
async def test_what_staff_typed_is_never_taken_for_a_readers_link(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(page_tokens, "utcnow", lambda: NOW)
    typed = "hole unsubscribeurl holepreferencesurl {{ unsubscribe_url }} SBHOLEunsubscribeurlX"
    event = Notice(
        key="announcement:typed",
        topic="announcements",
        title=f"Trip {typed}",
        body=f"Reply here: {typed}",
        payload=AnnouncementPayload(school_name="School 1", author_name=typed),
    )
    recipient = reader(1, Locale.en, hide=False)
    notification = Notification(
        event_key=event.key,
        recipient_id=recipient.user.id,
        topic=event.topic,
        title=event.title,
        body=event.body,
        email_decision=EmailDecision.immediate,
    )

    [email] = immediate_emails(event, [(notification, recipient)], now=NOW)

    expected = alone(event, recipient)
    assert (email.subject, email.text, email.html) == (
        expected.subject,
        expected.text,
        expected.html,
    )
    assert typed in email.text
