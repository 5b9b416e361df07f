"""People around the shared world for the message tests: those who may not write to each
other, and those in another school."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.auth.models import Role, User
from app.schools.models import GuardianLink, School
from tests.conftest import UserFactory, World


@dataclass
class Others:
    """Besides the world: a parent and a student of 5A's neighbours, a teacher who does not
    teach 5A, and the admin of another school."""

    parent: User  # linked to `student`
    student: User  # in the world's school, on no roster the world's teacher teaches
    teacher: User  # of the world's school, teaching nobody
    admin_elsewhere: User


@pytest.fixture
async def others(world: World, make_user: UserFactory) -> Others:
    assert world.school.id is not None
    student = await make_user(Role.student, school_ids=[world.school.id])
    parent = await make_user(Role.parent)
    teacher = await make_user(Role.teacher, school_ids=[world.school.id])
    elsewhere = School(name="School 2")
    await elsewhere.insert()
    assert elsewhere.id is not None and parent.id is not None and student.id is not None
    admin = await make_user(Role.admin, school_ids=[elsewhere.id])
    await GuardianLink(parent_id=parent.id, student_id=student.id).insert()
    return Others(parent=parent, student=student, teacher=teacher, admin_elsewhere=admin)
