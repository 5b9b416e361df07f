"""Who may post, correct and delete which grade: the dependencies the grades router takes.

Each loads what the request names (the class, the grade and its school), checks the caller's
role and relation to it, and hands the service the authorised objects. The checks run in
the order the answers have always had: no token 401, a malformed body 422, then 403 for a
role that never grades, 404 for what does not exist, 403 for what is not the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from beanie import PydanticObjectId
from fastapi import Depends, Query

from app.auth import directory
from app.auth import service as auth_service
from app.auth.access import CurrentUser, ParentUser
from app.auth.models import Role, User
from app.core.db import parse_object_id
from app.core.errors import Forbidden, NotFound, Unprocessable
from app.grades import service
from app.grades.models import Grade
from app.grades.schemas import MAX_SUBJECT_LENGTH, GradeBatch, GradeCreate, GradeUpdate
from app.schools.access import (
    can_manage_student,
    find_class,
    is_linked_guardian,
    is_school_admin,
    load_class,
    load_school,
    school_with_class,
)
from app.schools.models import School, SchoolClass
from app.subjects.access import may_teach


@dataclass(frozen=True)
class Grading:
    """A grade the caller may post: who, in which school and class, and what."""

    teacher: User
    school: School
    school_class: SchoolClass
    data: GradeCreate


# The body is a parameter here, not of the route, so that a malformed one is refused (422)
# before anything is looked up, as it was when the route validated it itself.
async def gradable_class(body: GradeCreate, user: CurrentUser) -> Grading:
    """The class of the posted grade, if the caller teaches that subject there or runs the
    school."""
    if user.role not in (Role.teacher, Role.admin):
        raise Forbidden("Only teachers and admins may post grades")
    school, school_class = await load_class(body.class_id)
    if not may_teach(user, school, school_class, body.subject):
        raise Forbidden("You do not teach this subject in this class")
    if user.role == Role.admin and not await _admin_reaches(user, body.student_id):
        raise Forbidden(ADMIN_OUT_OF_REACH)
    return Grading(teacher=user, school=school, school_class=school_class, data=body)


ADMIN_OUT_OF_REACH = "You are not an admin of every school of this student"


async def _admin_reaches(admin: User, student_id: PydanticObjectId) -> bool:
    """An admin acts on a student's grades only while running every school the student is
    in now: the record is read by the other schools too. A student who no longer exists
    is left to the checks that follow (the roster's 422)."""
    student = await auth_service.get_live_user(student_id)
    return student is None or can_manage_student(admin, student)


GradableClass = Annotated[Grading, Depends(gradable_class)]


@dataclass(frozen=True)
class HeldGrade:
    """A grade the caller may change, with its school (scale, time zone)."""

    grade: Grade
    school: School


async def _editable(grade_id: str, user: User) -> HeldGrade:
    grade = await service.get_grade(parse_object_id(grade_id, what="Grade"))
    found = await school_with_class(grade.school_id, grade.class_id) if grade else None
    if grade is None or found is None:
        raise NotFound("Grade not found")
    school, school_class = found
    if is_school_admin(user, grade.school_id):
        if not await _admin_reaches(user, grade.student_id):
            raise Forbidden(ADMIN_OUT_OF_REACH)
        return HeldGrade(grade=grade, school=school)
    # The grading teacher, and only while they still teach that subject in that class: a
    # teacher taken off a class keeps no hold on the grades given there.
    still_teaching = (
        user.role == Role.teacher
        and user.id == grade.teacher_id
        and may_teach(user, school, school_class, grade.subject)
    )
    if not still_teaching:
        raise Forbidden(
            "Only the grading teacher, while teaching this class, or the school's admin "
            "may change this grade"
        )
    return HeldGrade(grade=grade, school=school)


async def editable_grade(grade_id: str, user: CurrentUser) -> HeldGrade:
    """The grade in the path, if the caller gave it and still teaches it, or runs the school."""
    return await _editable(grade_id, user)


EditableGrade = Annotated[HeldGrade, Depends(editable_grade)]


@dataclass(frozen=True)
class Correction:
    """A correction the caller may make: the grade, its school and the changes asked for."""

    grade: Grade
    school: School
    changes: GradeUpdate


async def correctable_grade(grade_id: str, body: GradeUpdate, user: CurrentUser) -> Correction:
    """As `editable_grade`, with the body of the correction (validated first: a malformed
    body is a 422 whatever the grade)."""
    held = await _editable(grade_id, user)
    return Correction(grade=held.grade, school=held.school, changes=body)


CorrectableGrade = Annotated[Correction, Depends(correctable_grade)]


@dataclass(frozen=True)
class BatchGrading:
    """A lesson's grades the caller may post, with the live students they name."""

    teacher: User
    school: School
    school_class: SchoolClass
    data: GradeBatch
    students: dict[PydanticObjectId, User]


async def gradable_batch(body: GradeBatch, user: CurrentUser) -> BatchGrading:
    """As `gradable_class`, for every row of a batch at once: the students are read in one
    query, which the service's roster checks use too."""
    if user.role not in (Role.teacher, Role.admin):
        raise Forbidden("Only teachers and admins may post grades")
    school, school_class = await load_class(body.class_id)
    if not may_teach(user, school, school_class, body.subject):
        raise Forbidden("You do not teach this subject in this class")
    named = list(dict.fromkeys(row.student_id for row in body.grades))
    students = {s.id: s for s in await directory.live_users(named) if s.id is not None}
    if user.role == Role.admin and not all(
        can_manage_student(user, student) for student in students.values()
    ):
        raise Forbidden(ADMIN_OUT_OF_REACH)
    return BatchGrading(
        teacher=user, school=school, school_class=school_class, data=body, students=students
    )


GradableBatch = Annotated[BatchGrading, Depends(gradable_batch)]


@dataclass(frozen=True)
class GradedClass:
    """A class whose grades in one subject the caller may read as a register."""

    school: School
    school_class: SchoolClass
    subject: str


async def gradebook_class(
    school_id: str,
    class_id: str,
    subject: Annotated[
        str,
        Query(min_length=1, max_length=MAX_SUBJECT_LENGTH, description="The subject, any case"),
    ],
    user: CurrentUser,
) -> GradedClass:
    """The class in the path, if the caller teaches it the subject asked for or runs the
    school."""
    if user.role not in (Role.teacher, Role.admin):
        raise Forbidden("Only teachers and admins read a class's gradebook")
    school = await load_school(school_id)
    school_class = find_class(school, class_id)
    subject = subject.strip()
    if not subject:
        raise Unprocessable("subject is empty")
    if not may_teach(user, school, school_class, subject):
        raise Forbidden("You do not teach this subject in this class")
    return GradedClass(school=school, school_class=school_class, subject=subject)


ClassGradebook = Annotated[GradedClass, Depends(gradebook_class)]


@dataclass(frozen=True)
class ParentAndChild:
    parent_id: PydanticObjectId
    child_id: PydanticObjectId


async def linked_child(student_id: str, parent: ParentUser) -> ParentAndChild:
    """The child in the path, if the caller is a parent linked to them (else 404, as
    unlinking a child one is not linked to is)."""
    child_id = parse_object_id(student_id, what="Child")
    assert parent.id is not None
    if not await is_linked_guardian(parent.id, child_id):
        raise NotFound("You are not linked to this child")
    return ParentAndChild(parent_id=parent.id, child_id=child_id)


LinkedChild = Annotated[ParentAndChild, Depends(linked_child)]
