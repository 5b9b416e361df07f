"""Request and response bodies for conversations and messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from beanie import PydanticObjectId
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.auth.models import Role
from app.core.db import ObjectIdField
from app.core.text import PLAIN_BODY, PLAIN_LINE
from app.messages.models import Conversation, Message

Subject = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), PLAIN_LINE
]
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000), PLAIN_BODY
]


class ConversationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    participant_id: ObjectIdField = Field(
        description="Whom you write to: a parent writes to their children's teachers or a "
        "school admin of theirs; a teacher to their students and their students' parents; "
        "a student to their teachers; an admin to parents of the school's students"
    )
    subject: Subject = Field(description="What the conversation is about, one line")
    text: Text = Field(description="The first message, plain; line breaks kept")


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text = Field(description="The message, plain; line breaks kept")


class ParticipantOut(BaseModel):
    user_id: str
    full_name: str | None
    role: Role


class MessageOut(BaseModel):
    id: str
    conversation_id: str
    sender_id: str
    text: str
    created_at: datetime
    read_at: datetime | None = Field(
        description="When the other participant read it (a read receipt); null while unread"
    )

    @classmethod
    def of(cls, message: Message) -> MessageOut:
        return cls(
            id=str(message.id),
            conversation_id=str(message.conversation_id),
            sender_id=str(message.sender_id),
            text=message.text,
            created_at=message.created_at,
            read_at=message.read_at,
        )


class ConversationOut(BaseModel):
    id: str
    subject: str
    school_id: str | None
    participants: list[ParticipantOut]
    started_by: str
    created_at: datetime
    last_message_at: datetime
    last_sender_id: str | None
    unread: int = Field(description="Messages of the other participant you have not read")

    @classmethod
    def of(
        cls,
        conversation: Conversation,
        *,
        reader_id: PydanticObjectId,
        names: dict[PydanticObjectId, str],
    ) -> ConversationOut:
        return cls(
            id=str(conversation.id),
            subject=conversation.subject,
            school_id=str(conversation.school_id) if conversation.school_id else None,
            participants=[
                ParticipantOut(user_id=str(p.user_id), full_name=names.get(p.user_id), role=p.role)
                for p in conversation.participants
            ],
            started_by=str(conversation.started_by),
            created_at=conversation.created_at,
            last_message_at=conversation.last_message_at,
            last_sender_id=str(conversation.last_sender_id)
            if conversation.last_sender_id
            else None,
            unread=conversation.unread_for(reader_id),
        )


class StartedConversationOut(ConversationOut):
    message: MessageOut = Field(description="The first message")
