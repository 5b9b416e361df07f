"""Who may write to whom (section 9), and who may open a conversation.

Conversations go between a parent and their children's current teachers or a school admin
of one of their children, and between a teacher and their current students; never parent
to parent, student to student, or any other pair. The rule is asked again at every new
message: a relation that ended (the teacher no longer teaches the child, the guardian link
was removed, the student left the class or school) closes the conversation to new
messages, and it stays readable to both.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

from beanie import PydanticObjectId
from fastapi import Depends

from app.auth import directory
from app.auth.access import CurrentUser
from app.auth.models import Role, User
from app.core.db import parse_object_id
from app.core.errors import NotFound
from app.messages import repository
from app.messages.models import Conversation
from app.schools import guardians
from app.schools.access import schools_of, teaches_student

CONVERSATION_NOT_FOUND = "Conversation not found"


@dataclass(frozen=True)
class Relation:
    """Why two people may write to each other now, and the school it is in (for the
    notices: its name, its figures)."""

    school_id: PydanticObjectId | None


def _first(schools: set[PydanticObjectId]) -> PydanticObjectId | None:
    return min(schools) if schools else None


async def _children_taught_by(
    parent: User, teacher: User
) -> tuple[list[PydanticObjectId], set[PydanticObjectId]]:
    """The parent's children the teacher teaches now, and the schools those children are in."""
    assert parent.id is not None and teacher.id is not None
    children = sorted((await guardians.children_of([parent.id])).get(parent.id, set()))
    taught_flags = await asyncio.gather(*(teaches_student(teacher.id, c) for c in children))
    taught = [child for child, taught in zip(children, taught_flags, strict=True) if taught]
    if not taught:
        return [], set()
    return taught, await directory.live_school_ids(taught)


async def relation_between(one: User, other: User) -> Relation | None:
    """The relation that lets these two write to each other now, or None."""
    if one.id is None or other.id is None or one.id == other.id:
        return None
    if one.is_deleted or other.is_deleted:
        return None
    by_role = {one.role: one, other.role: other}
    if set(by_role) == {Role.parent, Role.teacher}:
        parent, teacher = by_role[Role.parent], by_role[Role.teacher]
        taught, schools = await _children_taught_by(parent, teacher)
        if not taught:
            return None
        return Relation(school_id=_first(schools & set(teacher.school_ids)) or _first(schools))
    if set(by_role) == {Role.parent, Role.admin}:
        parent, admin = by_role[Role.parent], by_role[Role.admin]
        shared = await schools_of(parent) & set(admin.school_ids)
        return Relation(school_id=_first(shared)) if shared else None
    if set(by_role) == {Role.teacher, Role.student}:
        teacher, student = by_role[Role.teacher], by_role[Role.student]
        assert teacher.id is not None and student.id is not None
        if not await teaches_student(teacher.id, student.id):
            return None
        shared = set(teacher.school_ids) & set(student.school_ids)
        return Relation(school_id=_first(shared) or _first(set(student.school_ids)))
    return None


async def participant_conversation(conversation_id: str, user: CurrentUser) -> Conversation:
    """The conversation in the path, if the caller is one of its two participants; anyone
    else hears it does not exist."""
    oid = parse_object_id(conversation_id, what="Conversation")
    assert user.id is not None
    conversation = await repository.conversation_of(oid, user.id)
    if conversation is None:
        raise NotFound(CONVERSATION_NOT_FOUND)
    return conversation


ParticipantConversation = Annotated[Conversation, Depends(participant_conversation)]
