"""Conversations and their messages: starting one, writing, reading, and read receipts."""

from __future__ import annotations

from beanie import PydanticObjectId

from app.auth import directory
from app.auth import service as accounts
from app.auth.models import User
from app.core import jobs
from app.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.core.security import utcnow
from app.messages import repository
from app.messages.access import relation_between
from app.messages.models import Conversation, Message, Participant
from app.messages.notices import NOTIFY_JOB

NOT_ALLOWED = (
    "You may not write to this person: conversations go between parents and their "
    "children's current teachers or school admins, and between teachers and their "
    "current students"
)
CLOSED = (
    "This conversation is closed to new messages: the relation it rested on has ended "
    "(the teacher no longer teaches the child, the guardian link was removed, or the "
    "student left the class). It stays readable."
)


async def start_conversation(
    *, user: User, participant_id: PydanticObjectId, subject: str, text: str
) -> tuple[Conversation, Message]:
    """Open a conversation with its first message, where section 9 allows the pair."""
    assert user.id is not None
    if participant_id == user.id:
        raise Unprocessable("participant_id is you: write to someone else")
    other = await accounts.get_live_user(participant_id)
    if other is None:
        raise NotFound("User not found")
    relation = await relation_between(user, other)
    if relation is None:
        raise Forbidden(NOT_ALLOWED)
    now = utcnow()
    conversation = Conversation(
        school_id=relation.school_id,
        subject=subject,
        participants=[
            Participant(user_id=user.id, role=user.role),
            Participant(user_id=participant_id, role=other.role),
        ],
        participant_ids=[user.id, participant_id],
        started_by=user.id,
        last_message_at=now,
        created_at=now,
    )
    await repository.insert_conversation(conversation)
    message = await _write(conversation, sender_id=user.id, text=text)
    return conversation, message


async def post_message(*, user: User, conversation: Conversation, text: str) -> Message:
    """Add a message, while the relation between the two still holds."""
    assert user.id is not None
    other = await accounts.get_live_user(conversation.other_than(user.id))
    if other is None or await relation_between(user, other) is None:
        raise Conflict(CLOSED)
    return await _write(conversation, sender_id=user.id, text=text)


async def _write(conversation: Conversation, *, sender_id: PydanticObjectId, text: str) -> Message:
    """Count the message on the conversation, store it, then tell the reader (a job recorded
    before the message is stored, so a crash in between delays the notice, never loses it)."""
    assert conversation.id is not None
    now = utcnow()
    seq = await repository.count_sent(conversation.id, sender_id, at=now)
    if seq is None:
        raise NotFound("Conversation not found")
    message = Message(
        id=PydanticObjectId(),
        conversation_id=conversation.id,
        sender_id=sender_id,
        seq=seq,
        text=text,
        created_at=now,
    )
    record = await jobs.reserve(NOTIFY_JOB, message_id=str(message.id))
    await repository.insert_message(message)
    await jobs.send(record)
    conversation.sent[str(sender_id)] = seq
    conversation.last_message_at = max(conversation.last_message_at, now)
    conversation.last_sender_id = sender_id
    return message


async def list_conversations(
    *, user: User, limit: int, cursor: str | None
) -> tuple[list[Conversation], dict[PydanticObjectId, str], str | None]:
    """The caller's conversations, latest message first, with the participants' names."""
    assert user.id is not None
    rows, next_cursor = await repository.conversations_of(user.id, limit=limit, cursor=cursor)
    people = {p.user_id for c in rows for p in c.participants}
    names = await directory.full_names(sorted(people)) if people else {}
    return rows, names, next_cursor


async def names_in(conversation: Conversation) -> dict[PydanticObjectId, str]:
    return await directory.full_names(conversation.participant_ids)


async def list_messages(
    *, conversation: Conversation, limit: int, cursor: str | None
) -> tuple[list[Message], str | None]:
    """A conversation's messages, newest first, each with its read receipt."""
    assert conversation.id is not None
    return await repository.messages_of(conversation.id, limit=limit, cursor=cursor)


async def mark_read(*, user: User, conversation: Conversation) -> None:
    """The caller has read every message the other side had sent: the unread count drops to
    zero and those messages carry the time (the other side's read receipt)."""
    assert user.id is not None and conversation.id is not None
    other = conversation.other_than(user.id)
    await repository.mark_read(
        conversation.id,
        reader_id=user.id,
        sender_id=other,
        upto=conversation.sent.get(str(other), 0),
        at=utcnow(),
    )
