"""Conversations between two people and the messages in them."""

from __future__ import annotations

from datetime import datetime

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field

from app.auth.models import Role
from app.core.security import utcnow


class Participant(BaseModel):
    user_id: PydanticObjectId
    role: Role


class NoticeWindow(BaseModel):
    """A burst of messages to one reader is told once: the window the first one opened."""

    until: datetime
    opened_by: PydanticObjectId


class Conversation(Document):
    """Two people writing to each other about one subject.

    Counters, not a count of the messages, give each side's unread figure: `sent` (by
    sender id) rises with every message, `read_upto` (by reader id) is the other side's
    `sent` up to which the reader has read, so a list of conversations with unread counts
    is one query whatever their length.
    """

    school_id: PydanticObjectId | None = None
    subject: str
    participants: list[Participant]
    participant_ids: list[PydanticObjectId]
    started_by: PydanticObjectId
    sent: dict[str, int] = Field(default_factory=dict)
    read_upto: dict[str, int] = Field(default_factory=dict)
    notice_windows: dict[str, NoticeWindow] = Field(default_factory=dict)
    last_message_at: datetime = Field(default_factory=utcnow)
    last_sender_id: PydanticObjectId | None = None
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "conversations"
        indexes = [
            pymongo.IndexModel(
                [("participant_ids", 1), ("last_message_at", -1), ("_id", -1)],
                name="participant_latest",
            )
        ]

    def other_than(self, user_id: PydanticObjectId) -> PydanticObjectId:
        return next(p.user_id for p in self.participants if p.user_id != user_id)

    def unread_for(self, user_id: PydanticObjectId) -> int:
        other = str(self.other_than(user_id))
        return max(0, self.sent.get(other, 0) - self.read_upto.get(str(user_id), 0))


class Message(Document):
    conversation_id: PydanticObjectId
    sender_id: PydanticObjectId
    # The sender's n-th message in the conversation (their `sent` counter once it is in).
    seq: int
    text: str
    created_at: datetime = Field(default_factory=utcnow)
    # When the other side read it (a read receipt); None while unread.
    read_at: datetime | None = None

    class Settings:
        name = "messages"
        indexes = [
            pymongo.IndexModel(
                [("conversation_id", 1), ("created_at", -1), ("_id", -1)],
                name="conversation_newest",
            ),
            pymongo.IndexModel(
                [("conversation_id", 1), ("sender_id", 1), ("seq", 1)],
                unique=True,
                name="conversation_sender_seq_unique",
            ),
        ]
