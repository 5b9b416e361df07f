"""Who may follow what: the relation checks behind the subscription routes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from beanie import PydanticObjectId
from fastapi import Depends

from app.auth.access import CurrentUser
from app.auth.models import Role, User
from app.core.db import parse_object_id
from app.core.errors import Forbidden
from app.notifications.models import TargetType
from app.notifications.schemas import SubscriptionIn
from app.schools import guardians
from app.schools.access import (
    is_linked_guardian,
    is_school_admin,
    load_class,
    load_school,
    load_student,
    schools_of,
)


@dataclass(frozen=True)
class FollowTarget:
    """A student, class or school the user may follow, and the school it belongs to."""

    target_type: TargetType
    target_id: PydanticObjectId
    school_id: PydanticObjectId | None
    topics: Sequence[str] | None = None


async def follow_target(
    user: User,
    target_type: TargetType,
    target_id: PydanticObjectId,
    topics: Sequence[str] | None = None,
) -> FollowTarget:
    """The target if the user has a relation to it: 404 when it does not exist, else 403."""
    assert user.id is not None
    if target_type == TargetType.student:
        student = await load_student(target_id)
        allowed = user.id == student.id or (
            user.role == Role.parent and await is_linked_guardian(user.id, target_id)
        )
        if not allowed:
            raise Forbidden("Only the student and their linked parents may follow a student")
        school_id = student.school_ids[0] if student.school_ids else None
        return FollowTarget(target_type, target_id, school_id, topics)

    if target_type == TargetType.class_:
        school, school_class = await load_class(target_id)
        assert school.id is not None
        roster = set(school_class.student_ids)
        allowed = (
            (user.role == Role.student and user.id in roster)
            or (user.role == Role.teacher and school_class.has_teacher(user.id))
            or (user.role == Role.parent and bool(roster & await children_of_parent(user.id)))
            or is_school_admin(user, school.id)
        )
        if not allowed:
            raise Forbidden("Only members of this class may follow it")
        return FollowTarget(target_type, target_id, school.id, topics)

    school = await load_school(target_id)
    assert school.id is not None
    # A parent belongs to the schools of their children.
    if school.id not in await schools_of(user):
        raise Forbidden("Only members of this school may follow it")
    return FollowTarget(target_type, target_id, school.id, topics)


async def children_of_parent(parent_id: PydanticObjectId) -> set[PydanticObjectId]:
    return (await guardians.children_of([parent_id])).get(parent_id, set())


async def followable_target(body: SubscriptionIn, user: CurrentUser) -> FollowTarget:
    target_id = parse_object_id(body.target_id, what=body.target_type.value.title())
    return await follow_target(user, body.target_type, target_id, body.topics)


FollowableTarget = Annotated[FollowTarget, Depends(followable_target)]
