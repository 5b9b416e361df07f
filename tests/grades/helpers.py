"""Small builders shared by the grade tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from beanie import PydanticObjectId

from app.auth.models import User
from app.core.timezones import today_in
from app.schools.models import School, SchoolClass, TeacherAssignment
from tests.conftest import World


def school_today(world: World) -> dt.date:
    """Today where the school is: its days are its own, not UTC's."""
    return today_in(world.school.timezone)


def days_ago(world: World, days: int) -> str:
    return (school_today(world) - dt.timedelta(days=days)).isoformat()


async def assign_teacher(
    world: World, teacher: User, subjects: list[str], class_id: PydanticObjectId | None = None
) -> None:
    school = await School.get(world.school.id)
    assert school is not None and teacher.id is not None
    school_class = school.find_class(class_id or world.class_5a.id)
    assert school_class is not None
    school_class.teachers.append(TeacherAssignment(teacher_id=teacher.id, subjects=subjects))
    await school.save()


async def add_class(world: World, name: str, **fields: Any) -> SchoolClass:
    school = await School.get(world.school.id)
    assert school is not None
    school_class = SchoolClass(name=name, **fields)
    school.classes.append(school_class)
    await school.save()
    return school_class


async def post_grade(
    client: httpx.AsyncClient, headers: dict[str, str], world: World, **fields: Any
) -> httpx.Response:
    body: dict[str, Any] = {
        "student_id": str(world.student.id),
        "class_id": str(world.class_5a.id),
        "subject": "math",
        "value": 5,
    }
    body.update(fields)
    return await client.post("/grades", json=body, headers=headers)


async def posted(
    client: httpx.AsyncClient, headers: dict[str, str], world: World, **fields: Any
) -> dict[str, Any]:
    response = await post_grade(client, headers, world, **fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
