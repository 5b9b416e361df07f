"""GET /users/me/classes: the classes a person has to do with, their subjects named in the
reader's language (schools know the classes, subjects the names, and only this layer may
ask both)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.auth.access import CurrentUser
from app.schools import finding
from app.subjects.service import subject_names

router = APIRouter()


class MyClassOut(BaseModel):
    school_id: str
    school_name: str
    class_id: str
    class_name: str
    subjects: list[str] = Field(
        description="Names in your language: a teacher's own subjects in the class, for "
        "anyone else every subject taught there"
    )
    students: int | None = Field(
        default=None, description="The roster's size, for the class's teachers and admins"
    )


class MyClassesOut(BaseModel):
    items: list[MyClassOut]


@router.get("/users/me/classes", operation_id="listMyClasses", tags=["users"])
async def my_classes(user: CurrentUser) -> MyClassesOut:
    """The classes you have to do with: a teacher's (with subjects and roster size), a
    student's own, a parent's children's, an admin's schools'."""
    classes = await finding.classes_of(user)
    schools = list(dict.fromkeys(c.school_id for c in classes))
    # One read per school (a person has one or two), side by side, not one per class.
    names = dict(zip(schools, await asyncio.gather(*map(subject_names, schools)), strict=True))
    locale = user.locale.value
    return MyClassesOut(
        items=[
            MyClassOut(
                school_id=str(c.school_id),
                school_name=c.school_name,
                class_id=str(c.class_id),
                class_name=c.class_name,
                subjects=[names[c.school_id].name(code, locale) for code in c.subjects],
                students=c.students,
            )
            for c in classes
        ]
    )
