"""The queries of the conversations and messages collections; messages.service keeps the
rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from beanie import PydanticObjectId

from app.core import db
from app.core.pagination import newest_first_page
from app.messages.models import Conversation, Message, NoticeWindow


async def insert_conversation(conversation: Conversation) -> None:
    await conversation.insert()


async def conversation_of(
    conversation_id: PydanticObjectId, participant_id: PydanticObjectId
) -> Conversation | None:
    """The conversation if this person is in it, else None (one query either way)."""
    return await Conversation.find_one({"_id": conversation_id, "participant_ids": participant_id})


async def get_conversation(conversation_id: PydanticObjectId) -> Conversation | None:
    return await Conversation.get(conversation_id)


async def conversations_of(
    participant_id: PydanticObjectId, *, limit: int, cursor: str | None
) -> tuple[list[Conversation], str | None]:
    """A person's conversations, the one with the latest message first."""
    return await newest_first_page(
        Conversation,
        {"participant_ids": participant_id},
        limit=limit,
        cursor=cursor,
        field="last_message_at",
    )


async def count_sent(
    conversation_id: PydanticObjectId, sender_id: PydanticObjectId, *, at: datetime
) -> int | None:
    """Count one more message of this sender, in one atomic write; the sender's new count
    (the message's `seq`), or None when the conversation is gone."""
    raw = await db.claim_one(
        Conversation,
        {"_id": conversation_id},
        {
            "$inc": {f"sent.{sender_id}": 1},
            "$max": {"last_message_at": at},
            "$set": {"last_sender_id": sender_id},
        },
    )
    if raw is None:
        return None
    return int(raw.get("sent", {}).get(str(sender_id), 0))


async def insert_message(message: Message) -> None:
    await message.insert()


async def get_message(message_id: PydanticObjectId) -> Message | None:
    return await Message.get(message_id)


async def messages_of(
    conversation_id: PydanticObjectId, *, limit: int, cursor: str | None
) -> tuple[list[Message], str | None]:
    """A conversation's messages, newest first."""
    return await newest_first_page(
        Message, {"conversation_id": conversation_id}, limit=limit, cursor=cursor
    )


async def mark_read(
    conversation_id: PydanticObjectId,
    *,
    reader_id: PydanticObjectId,
    sender_id: PydanticObjectId,
    upto: int,
    at: datetime,
) -> None:
    """The reader has read the sender's messages up to `upto`: the counter moves on (never
    back), the reader's notice window closes (the next message is told again), and each of
    those messages not read before gets its read time."""
    await db.update_one(
        Conversation,
        {"_id": conversation_id},
        {
            "$max": {f"read_upto.{reader_id}": upto},
            "$unset": {f"notice_windows.{reader_id}": ""},
        },
    )
    await db.update_many(
        Message,
        {
            "conversation_id": conversation_id,
            "sender_id": sender_id,
            "seq": {"$lte": upto},
            "read_at": None,
        },
        {"$set": {"read_at": at}},
    )


async def open_notice_window(
    conversation_id: PydanticObjectId,
    *,
    reader_id: PydanticObjectId,
    message_id: PydanticObjectId,
    at: datetime,
    until: datetime,
) -> bool:
    """Open the reader's notice window with this message unless another message's window is
    still open at `at`; True when this message's window is open now (opened now, or by an
    earlier run of the same job). One atomic write: of two racing messages one opens it."""
    path = f"notice_windows.{reader_id}"
    window = NoticeWindow(until=until, opened_by=message_id)
    raw = await db.claim_one(
        Conversation,
        {
            "_id": conversation_id,
            "$or": [
                {path: None},
                {f"{path}.until": {"$lte": at}},
                {f"{path}.opened_by": message_id},
            ],
        },
        {"$set": {path: window.model_dump()}},
    )
    return raw is not None


async def delete_conversations_of(user_ids: Sequence[PydanticObjectId]) -> None:
    """Every conversation any of these people is in, and its messages."""
    rows = await db.find_rows(
        Conversation, {"participant_ids": {"$in": list(user_ids)}}, {"_id": 1}
    )
    ids = [row["_id"] for row in rows]
    if ids:
        await Message.find({"conversation_id": {"$in": ids}}).delete()
        await Conversation.find({"_id": {"$in": ids}}).delete()
