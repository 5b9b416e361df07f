"""The demo's conversation (`schoolbell dev --demo`): a 5A parent asked the maths teacher
about homework and she answered; the parent has read the answer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from beanie import PydanticObjectId

from app.auth.models import Role
from app.messages import repository
from app.messages.models import Conversation, Message, Participant

SUBJECT = "Fractions homework"
QUESTION = "Good evening! Petya says he missed the fractions homework. What should he do?"
ANSWER = "Exercises 3 to 7 on page 42, for Thursday. He can ask me after the lesson too."


async def add_demo_conversation(
    *,
    school_id: PydanticObjectId,
    parent_id: PydanticObjectId,
    teacher_id: PydanticObjectId,
    now: datetime,
) -> None:
    """The parent's question and the teacher's answer, a day ago, both read."""
    asked, answered = now - timedelta(days=1, hours=2), now - timedelta(days=1)
    conversation = Conversation(
        id=PydanticObjectId(),
        school_id=school_id,
        subject=SUBJECT,
        participants=[
            Participant(user_id=parent_id, role=Role.parent),
            Participant(user_id=teacher_id, role=Role.teacher),
        ],
        participant_ids=[parent_id, teacher_id],
        started_by=parent_id,
        sent={str(parent_id): 1, str(teacher_id): 1},
        read_upto={str(parent_id): 1, str(teacher_id): 1},
        last_message_at=answered,
        last_sender_id=teacher_id,
        created_at=asked,
    )
    await repository.insert_conversation(conversation)
    assert conversation.id is not None
    for message in (
        Message(
            conversation_id=conversation.id,
            sender_id=parent_id,
            seq=1,
            text=QUESTION,
            created_at=asked,
            read_at=asked + timedelta(minutes=30),
        ),
        Message(
            conversation_id=conversation.id,
            sender_id=teacher_id,
            seq=1,
            text=ANSWER,
            created_at=answered,
            read_at=answered + timedelta(minutes=10),
        ),
    ):
        await repository.insert_message(message)


async def remove_conversations_of(user_ids: Sequence[PydanticObjectId]) -> None:
    """A demo load cut short: its conversations go with its people."""
    await repository.delete_conversations_of(user_ids)
