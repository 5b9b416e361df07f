"""Who hears an announcement: the members in its audience, the parents who follow the school,
an addressed class or a child in it, and for critical ones every linked parent of a student
in the audience. Asked of the schools, guardians and notifications services."""

from __future__ import annotations

from collections.abc import Sequence

from beanie import PydanticObjectId

from app.announcements import topic
from app.auth import directory
from app.auth.models import Role
from app.notifications import service as notifications
from app.notifications.fanout import unique_recipients
from app.notifications.models import Subscription, TargetType
from app.schools import guardians
from app.schools.models import School, SchoolClass


def _related_through_a_child(
    subscription: Subscription,
    children: set[PydanticObjectId],
    *,
    school_students: set[PydanticObjectId],
    rosters: dict[PydanticObjectId, set[PydanticObjectId]],
) -> bool:
    """Whether a parent's subscription still rests on a linked child: the child followed, a
    child in the class followed, or a child in the school followed."""
    if subscription.target_type == TargetType.student:
        return subscription.target_id in children
    if subscription.target_type == TargetType.class_:
        return bool(children & rosters.get(subscription.target_id, set()))
    return bool(children & school_students)


async def announcement_recipients(
    *,
    school: School,
    class_ids: Sequence[PydanticObjectId],
    roles: Sequence[Role],
    critical: bool,
    author_id: PydanticObjectId | None,
) -> list[PydanticObjectId]:
    """An announcement: members in the audience, subscribed parents, and for critical ones
    every linked parent of a student in the audience."""
    assert school.id is not None
    wanted = set(roles) or {Role.student, Role.teacher, Role.parent}
    addressed = [c for c in school.classes if not class_ids or c.id in set(class_ids)]
    whole_school = not class_ids

    students: list[PydanticObjectId] = []
    if whole_school:
        students = await directory.member_ids(school.id, Role.student)
    else:
        students = list(dict.fromkeys(s for c in addressed for s in c.student_ids))

    candidates: list[PydanticObjectId] = []
    if Role.student in wanted:
        candidates.extend(students)
    if Role.teacher in wanted:
        if whole_school:
            candidates.extend(await directory.member_ids(school.id, Role.teacher))
        else:
            candidates.extend(t.teacher_id for c in addressed for t in c.teachers)
    if Role.parent in wanted:
        candidates.extend(
            await _following_parents(
                school=school,
                addressed=addressed,
                students=students,
                school_students=students if whole_school else None,
            )
        )
        if critical:
            candidates.extend(await guardians.parents_of(students))
    return unique_recipients(candidates, actor_id=author_id)


async def _following_parents(
    *,
    school: School,
    addressed: Sequence[SchoolClass],
    students: Sequence[PydanticObjectId],
    school_students: Sequence[PydanticObjectId] | None,
) -> list[PydanticObjectId]:
    """Parents who follow the school, an addressed class or a child in the audience for
    announcements, and whose subscription still rests on a child linked to them now: a
    parent unlinked since (custody, a child who moved) hears nothing through it.
    `school_students`, when the caller already has them, saves reading them again."""
    assert school.id is not None
    subscriptions = [
        *await notifications.parent_followers(
            target_type=TargetType.school, target_ids=[school.id], topic=topic.NAME
        ),
        *await notifications.parent_followers(
            target_type=TargetType.class_, target_ids=[c.id for c in addressed], topic=topic.NAME
        ),
        *await notifications.parent_followers(
            target_type=TargetType.student, target_ids=students, topic=topic.NAME
        ),
    ]
    if not subscriptions:
        return []
    children = await guardians.children_of([s.subscriber_id for s in subscriptions])
    rosters = {c.id: set(c.student_ids) for c in school.classes}
    in_school: set[PydanticObjectId] = set(school_students or ())
    if school_students is None and any(s.target_type == TargetType.school for s in subscriptions):
        in_school = set(await directory.member_ids(school.id, Role.student))
    return [
        s.subscriber_id
        for s in subscriptions
        if _related_through_a_child(
            s,
            children.get(s.subscriber_id, set()),
            school_students=in_school,
            rosters=rosters,
        )
    ]
