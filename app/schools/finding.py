"""Finding one's way: the classes a person has to do with, and who looks after a child."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId

from app.auth import directory
from app.auth.models import Role, User
from app.core.pagination import PageParams
from app.schools import repository


@dataclass(frozen=True)
class MyClass:
    school_id: PydanticObjectId
    school_name: str
    class_id: PydanticObjectId
    class_name: str
    # What is taught there: the teacher's own subjects, everyone's for anyone else.
    subjects: list[str]
    # The roster's size, for those who teach or run the class.
    students: int | None


async def classes_of(user: User) -> list[MyClass]:
    """A teacher's classes, a student's own, a parent's children's, an admin's schools':
    one round trip, two for a parent (their links first)."""
    assert user.id is not None
    if user.role == Role.teacher:
        rows = await repository.class_rows(
            {"classes.teachers.teacher_id": user.id}, {"teachers.teacher_id": user.id}
        )
    elif user.role == Role.student:
        rows = await repository.class_rows(
            {"classes.student_ids": user.id}, {"student_ids": user.id}
        )
    elif user.role == Role.parent:
        children = [link.student_id for link in await repository.links_of_parent(user.id)]
        if not children:
            return []
        wanted = {"student_ids": {"$in": children}}
        rows = await repository.class_rows({"classes.student_ids": {"$in": children}}, wanted)
    else:
        rows = await repository.class_rows({"_id": {"$in": list(user.school_ids)}})
    sees_roster = user.role in (Role.teacher, Role.admin)
    return [
        MyClass(
            school_id=row["school_id"],
            school_name=row["school_name"],
            class_id=row["class_id"],
            class_name=row["class_name"],
            subjects=_subjects(row["teachers"], user),
            students=row["students"] if sees_roster else None,
        )
        for row in rows
    ]


def _subjects(teachers: list[dict[str, Any]], user: User) -> list[str]:
    mine = [t for t in teachers if t.get("teacher_id") == user.id]
    taught = mine if user.role == Role.teacher else teachers
    return list(dict.fromkeys(str(s) for t in taught for s in t.get("subjects") or []))


@dataclass(frozen=True)
class Guardian:
    user: User
    linked_at: datetime


async def guardians_of(*, student: User, page: PageParams) -> tuple[list[Guardian], str | None]:
    """The parents linked to a student, most recently linked first: the page of links,
    then those parents' accounts in one batch (two round trips whatever the page's size)."""
    assert student.id is not None
    links, cursor = await repository.guardian_links_page(
        student.id, limit=page.limit, cursor=page.cursor
    )
    parents = {p.id: p for p in await directory.live_users([link.parent_id for link in links])}
    return [
        Guardian(user=parents[link.parent_id], linked_at=link.created_at)
        for link in links
        if link.parent_id in parents
    ], cursor
