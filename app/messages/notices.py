"""What a new message tells its reader: a job that loads the message by id, decides whether
it opens a new notice window, and publishes the notice (topic `messages`).

A burst is told once, by coalescing: the first message to a reader opens a notice window
on the conversation for that reader (one atomic write, so of two racing messages exactly
one opens it), and only that message is published, under the dedupe key
`message:<conversation>:<reader>:<the message that opened the window>`. Messages that
arrive while the window is open add no inbox item and no email; the conversation's unread
count carries them. The window lasts BURST_WINDOW from the message, or, when the message
reaches the reader inside their quiet hours, until BURST_WINDOW after those hours end (the
email waits for their end, as every email does): one email per conversation per quiet
window. Reading the conversation closes the window, so the next message is told again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from beanie import PydanticObjectId

from app.auth import directory
from app.auth import service as accounts
from app.auth.models import User
from app.core import jobs
from app.core.i18n import DEFAULT_LOCALE, LOCALES, translate
from app.messages import repository, topic
from app.messages.models import Conversation, Message
from app.notifications import service as notifications
from app.notifications.fanout import publish
from app.notifications.models import Notice
from app.notifications.preferences import Preferences
from app.notifications.quiet_hours import quiet_hours_end
from app.schools import service as schools_service

NOTIFY_JOB = "messages.notify"
BURST_WINDOW = timedelta(minutes=15)
# The inbox shows the start of a long message; the conversation has all of it.
INBOX_TEXT_LIMIT = 280


def window_end(*, preferences: Preferences, timezone: str, at: datetime) -> datetime:
    """Until when messages after one sent `at` are told together with it."""
    quiet = preferences.quiet_hours
    quiet_end = (
        quiet_hours_end(start=quiet.start, end=quiet.end, timezone=timezone, now=at)
        if quiet is not None
        else None
    )
    return (quiet_end or at) + BURST_WINDOW


def message_words(locale: str, *, sender: str, subject: str, text: str) -> tuple[str, str]:
    """The inbox title and body of a new-message notice, in one language."""
    shown = text if len(text) <= INBOX_TEXT_LIMIT else text[: INBOX_TEXT_LIMIT - 1] + "…"
    return (
        translate(locale, "inbox.message_new", sender=sender),
        translate(locale, "inbox.message_body", subject=subject, text=shown),
    )


def notice_key(conversation: Conversation, reader_id: PydanticObjectId, opened_by: str) -> str:
    return f"message:{conversation.id}:{reader_id}:{opened_by}"


async def _message_notice(conversation: Conversation, message: Message, reader: User) -> Notice:
    assert reader.id is not None
    names = await directory.full_names([message.sender_id])
    sender = names.get(message.sender_id, "—")
    school = (
        await schools_service.school_by_id(conversation.school_id)
        if conversation.school_id is not None
        else None
    )
    texts = {
        locale: message_words(
            locale, sender=sender, subject=conversation.subject, text=message.text
        )
        for locale in LOCALES
    }
    return Notice(
        key=notice_key(conversation, reader.id, str(message.id)),
        topic=topic.NAME,
        title=texts[DEFAULT_LOCALE][0],
        body=texts[DEFAULT_LOCALE][1],
        texts=texts,
        school_id=conversation.school_id,
        actor_id=message.sender_id,
        source_id=conversation.id,
        payload=topic.MessagePayload(
            conversation_id=str(conversation.id),
            message_id=str(message.id),
            sender_id=str(message.sender_id),
            sender_name=sender,
            subject=conversation.subject,
            text=message.text,
            school_name=school.name if school is not None else None,
        ),
        recipients=[reader.id],
    )


@jobs.job(NOTIFY_JOB)
async def notify_message(*, message_id: str) -> int:
    """Tell the other participant about a new message, unless a window a message before it
    opened is still open (see the module's note). Safe to run again."""
    message = await repository.get_message(PydanticObjectId(message_id))
    if message is None:
        return 0  # never written (the request failed after recording the job)
    conversation = await repository.get_conversation(message.conversation_id)
    if conversation is None:
        return 0
    reader = await accounts.get_live_user(conversation.other_than(message.sender_id))
    if reader is None or reader.id is None:
        return 0
    preferences = await notifications.preferences_of(reader)
    opened = await repository.open_notice_window(
        message.conversation_id,
        reader_id=reader.id,
        message_id=message.id,  # type: ignore[arg-type]
        at=message.created_at,
        until=window_end(preferences=preferences, timezone=reader.timezone, at=message.created_at),
    )
    if not opened:
        return 0  # coalesced into the window an earlier message opened
    notice = await _message_notice(conversation, message, reader)
    return await publish(notice, now=message.created_at)
