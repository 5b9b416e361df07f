"""Who an event is for: the members it addresses (students and teachers of its classes, or
of the whole school, and the parents of those students), asked of the schools, guardians and
auth services. Used both to tell the audience and to let only them answer."""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId

from app.auth import directory
from app.auth.models import Role, User
from app.events.models import Event
from app.notifications.fanout import unique_recipients
from app.schools import guardians
from app.schools import service as schools
from app.schools.models import School, SchoolClass

EVERYONE = frozenset({Role.student, Role.teacher, Role.parent})


def _wanted(event: Event) -> set[Role]:
    return set(event.roles) or set(EVERYONE)


def _addressed(event: Event, school: School) -> list[SchoolClass]:
    chosen = set(event.class_ids)
    return [c for c in school.classes if not chosen or c.id in chosen]


async def _students(event: Event, school: School) -> list[PydanticObjectId]:
    assert school.id is not None
    if not event.class_ids:
        return await directory.member_ids(school.id, Role.student)
    return list(dict.fromkeys(s for c in _addressed(event, school) for s in c.student_ids))


async def audience_ids(event: Event, school: School) -> list[PydanticObjectId]:
    """Everyone the event addresses, each once, never its author."""
    assert school.id is not None
    wanted = _wanted(event)
    students = await _students(event, school)
    candidates: list[PydanticObjectId] = []
    if Role.student in wanted:
        candidates.extend(students)
    if Role.teacher in wanted:
        if event.class_ids:
            candidates.extend(t.teacher_id for c in _addressed(event, school) for t in c.teachers)
        else:
            candidates.extend(await directory.member_ids(school.id, Role.teacher))
    if Role.parent in wanted:
        candidates.extend(await guardians.parents_of(students))
    return unique_recipients(candidates, actor_id=event.author_id)


async def children_in_audience(parent: User, event: Event, school: School) -> set[PydanticObjectId]:
    """The parent's linked children whom the event addresses (their family's reason to come)."""
    assert parent.id is not None and school.id is not None
    children = (await guardians.children_of([parent.id])).get(parent.id, set())
    if not children:
        return set()
    if event.class_ids:
        return children & {s for c in _addressed(event, school) for s in c.student_ids}
    live = await directory.live_users(list(children))
    return {c.id for c in live if c.id is not None and school.id in c.school_ids}


async def is_in_audience(user: User, event: Event, school: School) -> bool:
    """Whether the event addresses this person now (rights follow current relations)."""
    assert user.id is not None and school.id is not None
    if user.role not in _wanted(event):
        return False
    if user.role == Role.parent:
        return bool(await children_in_audience(user, event, school))
    if school.id not in user.school_ids:
        return False
    if not event.class_ids:
        return True
    addressed = _addressed(event, school)
    if user.role == Role.student:
        return any(user.id in c.student_ids for c in addressed)
    return any(c.has_teacher(user.id) for c in addressed)


async def addressed_to(user: User) -> dict[str, Any] | None:
    """The condition on events that selects those addressed to this member (None: none can
    be): their schools, the classes they sit in, teach or have children in, and their role."""
    assert user.id is not None
    if user.role == Role.parent:
        children = (await guardians.children_of([user.id])).get(user.id, set())
        places = await schools.places_of(sorted(children))
        school_ids, class_ids = set(places.school_ids), set(places.class_ids)
    elif user.role == Role.student:
        places = await schools.places_of([user.id])
        school_ids, class_ids = set(places.school_ids), set(places.class_ids)
    else:
        school_ids = set(user.school_ids)
        class_ids = set()
        for school_id in sorted(school_ids):
            school = await schools.school_by_id(school_id)
            if school is not None:
                class_ids |= {c.id for c in school.classes if c.has_teacher(user.id)}
    if not school_ids:
        return None
    return {
        "school_id": {"$in": sorted(school_ids)},
        "$and": [
            {"$or": [{"class_ids": []}, {"class_ids": {"$in": sorted(class_ids)}}]},
            {"$or": [{"roles": []}, {"roles": user.role.value}]},
        ],
    }
