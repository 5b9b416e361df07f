"""Conversations between parents, teachers, students and school admins (section 9)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from app.auth.access import CurrentUser
from app.core.pagination import Page, PageParams, page_params
from app.messages import service
from app.messages.access import ParticipantConversation
from app.messages.schemas import (
    ConversationIn,
    ConversationOut,
    MessageIn,
    MessageOut,
    StartedConversationOut,
)

router = APIRouter(tags=["messages"])
Paging = Annotated[PageParams, Depends(page_params)]


@router.post(
    "/conversations", operation_id="startConversation", status_code=status.HTTP_201_CREATED
)
async def start_conversation(body: ConversationIn, user: CurrentUser) -> StartedConversationOut:
    """Start a conversation with its first message (403 where the pair may not write)."""
    assert user.id is not None
    conversation, message = await service.start_conversation(
        user=user, participant_id=body.participant_id, subject=body.subject, text=body.text
    )
    names = await service.names_in(conversation)
    out = ConversationOut.of(conversation, reader_id=user.id, names=names)
    return StartedConversationOut(**out.model_dump(), message=MessageOut.of(message))


@router.get("/conversations", operation_id="listConversations")
async def list_conversations(user: CurrentUser, paging: Paging) -> Page[ConversationOut]:
    """Your conversations, the latest message first, each with your unread count."""
    assert user.id is not None
    rows, names, cursor = await service.list_conversations(
        user=user, limit=paging.limit, cursor=paging.cursor
    )
    return Page(
        items=[ConversationOut.of(c, reader_id=user.id, names=names) for c in rows],
        next_cursor=cursor,
    )


@router.get("/conversations/{conversation_id}/messages", operation_id="listMessages")
async def list_messages(conversation: ParticipantConversation, paging: Paging) -> Page[MessageOut]:
    """A conversation's messages, newest first; `read_at` is the other side's read receipt."""
    rows, cursor = await service.list_messages(
        conversation=conversation, limit=paging.limit, cursor=paging.cursor
    )
    return Page(items=[MessageOut.of(m) for m in rows], next_cursor=cursor)


@router.post(
    "/conversations/{conversation_id}/messages",
    operation_id="sendMessage",
    status_code=status.HTTP_201_CREATED,
)
async def post_message(
    body: MessageIn, conversation: ParticipantConversation, user: CurrentUser
) -> MessageOut:
    """Write in a conversation; 409 once the relation it rested on has ended."""
    message = await service.post_message(user=user, conversation=conversation, text=body.text)
    return MessageOut.of(message)


@router.post(
    "/conversations/{conversation_id}/read",
    operation_id="markConversationRead",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def mark_read(conversation: ParticipantConversation, user: CurrentUser) -> None:
    """Mark the conversation read: your unread count drops to zero and the other side sees
    `read_at` on their messages."""
    await service.mark_read(user=user, conversation=conversation)
