"""A campus with every kind of relation a fan-out has to tell apart, and inbox helpers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from pydantic import BaseModel

from app.announcements.topic import AnnouncementPayload
from app.auth.models import Role, User
from app.core.security import utcnow
from app.grades.topic import GradePayload
from app.notifications import service
from app.notifications.access import follow_target
from app.notifications.models import Notice, Notification, TargetType
from app.notifications.preferences import Priority
from app.schools.models import GuardianLink, School, SchoolClass, TeacherAssignment
from tests.conftest import UserFactory, World


@dataclass
class Campus:
    """The world's school with classes 5A and 6B, another school, and parents related to
    the children in every way that matters: subscribed to the child, to a class, to the
    school, to several of those at once, to one topic only, or linked and not subscribed."""

    world: World
    school: School
    class_5a: SchoolClass
    class_6b: SchoolClass
    other_school: School
    people: dict[str, User] = field(default_factory=dict)

    def id(self, name: str) -> PydanticObjectId:
        user_id = self.people[name].id
        assert user_id is not None
        return user_id

    def names(self, ids: Iterable[PydanticObjectId]) -> set[str]:
        by_id = {user.id: name for name, user in self.people.items()}
        return {by_id[i] for i in ids if i in by_id}


async def _link(parent: User, *students: User) -> None:
    for student in students:
        assert parent.id is not None and student.id is not None
        await GuardianLink(parent_id=parent.id, student_id=student.id).insert()


async def build_campus(world: World, make_user: UserFactory) -> Campus:
    school_id = world.school.id
    assert school_id is not None
    people: dict[str, User] = {
        "admin": world.admin,
        "t5a": world.teacher,
        "s5a": world.student,
        "p_child": world.parent,
    }
    people["s5a2"] = await make_user(Role.student, school_ids=[school_id])
    people["s6b"] = await make_user(Role.student, school_ids=[school_id])
    people["t6b"] = await make_user(Role.teacher, school_ids=[school_id])
    # A teacher of the school who teaches no class: reached only by whole-school news.
    people["t_none"] = await make_user(Role.teacher, school_ids=[school_id])

    def oid(name: str) -> PydanticObjectId:
        user_id = people[name].id
        assert user_id is not None
        return user_id

    school = await School.get(school_id)
    assert school is not None
    class_6b = SchoolClass(
        name="6B",
        year=6,
        student_ids=[oid("s6b")],
        teachers=[TeacherAssignment(teacher_id=oid("t6b"), subjects=["physics"])],
    )
    school.classes[0].student_ids.append(oid("s5a2"))
    school.classes.append(class_6b)
    await school.save()
    class_5a = school.classes[0]

    other = School(name="Other school")
    await other.insert()
    assert other.id is not None
    people["so"] = await make_user(Role.student, school_ids=[other.id])
    people["to"] = await make_user(Role.teacher, school_ids=[other.id])
    people["ao"] = await make_user(Role.admin, school_ids=[other.id])
    other.classes.append(
        SchoolClass(
            name="7C",
            student_ids=[oid("so")],
            teachers=[TeacherAssignment(teacher_id=oid("to"), subjects=["art"])],
        )
    )
    await other.save()

    for name in (
        "p_unsub",
        "p_other_child",
        "p_school",
        "p_class5a",
        "p_class6b",
        "p_all",
        "p_grades_only",
        "p_ann_only",
        "p_foreign",
    ):
        people[name] = await make_user(Role.parent)

    s5a, s5a2, s6b, so = people["s5a"], people["s5a2"], people["s6b"], people["so"]
    await _link(people["p_unsub"], s5a)
    await _link(people["p_other_child"], s6b)
    await _link(people["p_school"], s6b)
    await _link(people["p_class5a"], s5a2)
    await _link(people["p_class6b"], s6b)
    await _link(people["p_all"], s5a)
    await _link(people["p_grades_only"], s5a)
    await _link(people["p_ann_only"], s5a)
    await _link(people["p_foreign"], so)

    # follow_target checks the relation, so every subscription below is a legal one.
    async def follow(name: str, target: TargetType, target_id: Any, **kw: Any) -> None:
        allowed = await follow_target(people[name], target, target_id, **kw)
        await service.subscribe(user=people[name], target=allowed)

    await follow("p_child", TargetType.student, s5a.id)
    await follow("p_other_child", TargetType.student, s6b.id)
    await follow("p_school", TargetType.school, school_id)
    await follow("p_class5a", TargetType.class_, class_5a.id)
    await follow("p_class6b", TargetType.class_, class_6b.id)
    await follow("p_all", TargetType.school, school_id)
    await follow("p_all", TargetType.class_, class_5a.id)
    await follow("p_all", TargetType.student, s5a.id)
    await follow("p_grades_only", TargetType.student, s5a.id, topics=["grades"])
    await follow("p_ann_only", TargetType.student, s5a.id, topics=["announcements"])
    await follow("p_foreign", TargetType.school, other.id)
    await follow("p_foreign", TargetType.student, so.id)

    return Campus(world, school, class_5a, class_6b, other, people)


def event(
    key: str = "test:1",
    *,
    topic: str = "announcements",
    priority: Priority = Priority.normal,
    school_id: PydanticObjectId | None = None,
    actor_id: PydanticObjectId | None = None,
) -> Notice:
    return Notice(
        key=key,
        topic=topic,
        title=f"{topic} {key}",
        body="body",
        priority=priority,
        school_id=school_id,
        actor_id=actor_id,
        payload=PAYLOADS[topic](**EMAIL_DATA[topic]),
    )


PAYLOADS: dict[str, type[BaseModel]] = {
    "announcements": AnnouncementPayload,
    "grades": GradePayload,
}

# What each event's email template names.
EMAIL_DATA: dict[str, dict[str, object]] = {
    "announcements": {"school_name": "School 1", "author_name": "The Head"},
    "grades": {
        "student_name": "Masha",
        "subject": "math",
        "value": 5,
        "kind": "regular",
        "date": "2026-11-20",
        "teacher_name": "Ivan Petrovich",
        "comment": None,
        "changed": False,
    },
}


async def put_notification(
    recipient: User,
    *,
    key: str,
    topic: str = "announcements",
    created_at: datetime | None = None,
    school_id: PydanticObjectId | None = None,
    read: bool = False,
    in_app: bool = True,
) -> Notification:
    """One stored notification with a chosen creation time (the inbox orders by it)."""
    assert recipient.id is not None
    created = created_at or utcnow()
    notification = Notification(
        event_key=key,
        recipient_id=recipient.id,
        school_id=school_id,
        topic=topic,
        title=f"title {key}",
        body="body",
        in_app=in_app,
        created_at=created,
        read_at=created + timedelta(seconds=1) if read else None,
    )
    await notification.insert()
    return notification


async def stored_for(user: User) -> list[Notification]:
    return await Notification.find({"recipient_id": user.id}).to_list()
