"""Schools, classes, rosters, teacher assignments and guardian links."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from app.auth.access import AdminUser, CurrentUser, ParentUser
from app.core.deps import SettingsDep
from app.core.pagination import Page, PageParams, page_params
from app.core.ratelimit import enforce
from app.core.security import as_utc
from app.schools import finding, guardians, service
from app.schools.access import (
    AdminSchool,
    CodeStudent,
    GuardiansStudent,
    ManagedStudent,
    RosterClass,
    ViewableClass,
)
from app.schools.schemas import (
    ChildClassOut,
    ChildOut,
    ClassCreate,
    ClassOut,
    ClassUpdate,
    GuardianCodeIssue,
    GuardianCodeOut,
    GuardianCodeRedeem,
    GuardianOut,
    RosterStudentOut,
    SchoolCreate,
    SchoolOut,
    TeacherSubjectsIn,
)

# Generous for a family typing a code off paper, hopeless for guessing one of 31**8.
GUARDIAN_CODE_RATE = "10/minute"
# A class's worth of families an hour per member of staff; never a way to flood a mailbox.
GUARDIAN_CODE_MAIL_RATE = "60/hour"

router = APIRouter(tags=["schools"])
Paging = Annotated[PageParams, Depends(page_params)]
NO_CONTENT = status.HTTP_204_NO_CONTENT


def _child_out(child: guardians.Child) -> ChildOut:
    return ChildOut(
        id=str(child.student.id),
        full_name=child.student.full_name,
        email=child.student.email,
        classes=[
            ChildClassOut(
                school_id=str(school.id),
                school_name=school.name,
                class_id=str(school_class.id),
                class_name=school_class.name,
            )
            for school, school_class in child.classes
        ],
    )


# Schools


@router.post("/schools", operation_id="createSchool", status_code=status.HTTP_201_CREATED)
async def create_school(body: SchoolCreate, admin: AdminUser) -> SchoolOut:
    """Create a school; its creator becomes its admin."""
    school = await service.create_school(
        admin=admin,
        name=body.name,
        timezone=body.timezone,
        grade_scale=(body.grade_scale.min, body.grade_scale.max) if body.grade_scale else None,
    )
    return SchoolOut.of(school)


@router.get("/schools", operation_id="listSchools")
async def list_schools(admin: AdminUser, page: Paging) -> Page[SchoolOut]:
    """The schools the caller administers, newest first."""
    schools, cursor = await service.list_schools(admin=admin, page=page)
    return Page(items=[SchoolOut.of(s) for s in schools], next_cursor=cursor)


@router.get("/schools/{school_id}", operation_id="getSchool")
async def get_school(school: AdminSchool) -> SchoolOut:
    """One school with its classes."""
    return SchoolOut.of(school)


# PATCH /schools/{school_id} is served by app/grades/router.py: a new grade scale must not
# strand existing grades, and only the grades layer can ask that.


@router.delete("/schools/{school_id}", operation_id="deleteSchool", status_code=NO_CONTENT)
async def delete_school(school: AdminSchool) -> None:
    """Soft-delete a school."""
    await service.delete_school(school=school)


# Classes


@router.post(
    "/schools/{school_id}/classes", operation_id="createClass", status_code=status.HTTP_201_CREATED
)
async def create_class(body: ClassCreate, school: AdminSchool) -> ClassOut:
    """Add a class; its name must be unique in the school (409 otherwise)."""
    school_class = await service.create_class(school=school, name=body.name, year=body.year)
    return ClassOut.of(school_class)


@router.get("/schools/{school_id}/classes", operation_id="listClasses")
async def list_classes(school: AdminSchool, page: Paging) -> Page[ClassOut]:
    """The school's classes, newest first."""
    classes, cursor = await service.list_classes(school=school, page=page)
    return Page(items=[ClassOut.of(c) for c in classes], next_cursor=cursor)


@router.get("/schools/{school_id}/classes/{class_id}", operation_id="getClass")
async def get_class(school_class: ViewableClass) -> ClassOut:
    """One class: for the school's admins, its teachers, its students and their parents."""
    return ClassOut.of(school_class)


@router.patch("/schools/{school_id}/classes/{class_id}", operation_id="updateClass")
async def update_class(class_id: str, body: ClassUpdate, school: AdminSchool) -> ClassOut:
    """Rename a class or change its year (`year: null` clears it)."""
    school_class = await service.update_class(
        school=school,
        class_id=class_id,
        name=body.name,
        year=body.year,
        set_year="year" in body.model_fields_set,
    )
    return ClassOut.of(school_class)


@router.delete(
    "/schools/{school_id}/classes/{class_id}", operation_id="deleteClass", status_code=NO_CONTENT
)
async def delete_class(class_id: str, school: AdminSchool) -> None:
    """Remove a class."""
    await service.delete_class(school=school, class_id=class_id)


# Roster


@router.put(
    "/schools/{school_id}/classes/{class_id}/students/{student_id}",
    operation_id="addStudentToClass",
    status_code=NO_CONTENT,
)
async def add_student(
    class_id: str, student_id: str, school: AdminSchool, admin: CurrentUser
) -> None:
    """Put a student on the roster (idempotent); a student sits in one class per school.

    The student must belong to no school yet or to one the caller runs.
    """
    await service.add_student(admin=admin, school=school, class_id=class_id, student_id=student_id)


@router.delete(
    "/schools/{school_id}/classes/{class_id}/students/{student_id}",
    operation_id="removeStudentFromClass",
    status_code=NO_CONTENT,
)
async def remove_student(class_id: str, student_id: str, school: AdminSchool) -> None:
    """Take a student off the roster (idempotent); off the school's last roster they leave
    the school."""
    await service.remove_student(school=school, class_id=class_id, student_id=student_id)


@router.get("/schools/{school_id}/classes/{class_id}/students", operation_id="listClassStudents")
async def list_roster(school_class: RosterClass, page: Paging) -> Page[RosterStudentOut]:
    """The roster, for the school's admins and the class's teachers."""
    students, cursor = await service.list_roster(school_class=school_class, page=page)
    return Page(
        items=[
            RosterStudentOut(id=str(s.id), full_name=s.full_name, email=s.email) for s in students
        ],
        next_cursor=cursor,
    )


# Teachers


@router.put(
    "/schools/{school_id}/classes/{class_id}/teachers/{teacher_id}",
    operation_id="assignTeacher",
    status_code=NO_CONTENT,
)
async def assign_teacher(
    class_id: str,
    teacher_id: str,
    body: TeacherSubjectsIn,
    school: AdminSchool,
    admin: CurrentUser,
) -> None:
    """Assign a teacher to the class for these subjects, replacing any they had there.

    The teacher must belong to no school yet or to one the caller runs.
    """
    await service.assign_teacher(
        admin=admin,
        school=school,
        class_id=class_id,
        teacher_id=teacher_id,
        subjects=body.subjects,
    )


@router.delete(
    "/schools/{school_id}/classes/{class_id}/teachers/{teacher_id}",
    operation_id="unassignTeacher",
    status_code=NO_CONTENT,
)
async def unassign_teacher(class_id: str, teacher_id: str, school: AdminSchool) -> None:
    """Take a teacher off the class (idempotent)."""
    await service.unassign_teacher(school=school, class_id=class_id, teacher_id=teacher_id)


# Guardians


@router.post(
    "/students/{student_id}/guardian-codes",
    operation_id="issueGuardianCode",
    status_code=status.HTTP_201_CREATED,
    tags=["guardians"],
)
async def issue_guardian_code(
    request: Request,
    student: CodeStudent,
    user: CurrentUser,
    settings: SettingsDep,
    body: GuardianCodeIssue | None = None,
) -> GuardianCodeOut:
    """A single-use code, valid 7 days, that links the parent who enters it to this student;
    with `email`, the code is also mailed there with how to register and use it."""
    email = body.email if body is not None else None
    if email is not None:
        await enforce(request, GUARDIAN_CODE_MAIL_RATE, "guardian-code-mail", str(user.id))
    code, document = await guardians.issue_guardian_code(
        settings=settings, issuer=user, student=student, email=email
    )
    return GuardianCodeOut(code=code, expires_at=document.expires_at)


@router.post(
    "/users/me/children",
    operation_id="redeemGuardianCode",
    status_code=status.HTTP_201_CREATED,
    tags=["guardians"],
)
async def redeem_guardian_code(
    request: Request, body: GuardianCodeRedeem, parent: ParentUser
) -> ChildOut:
    """Enter a guardian code to link to the child; a wrong, used or expired code is a 400,
    an account whose email is not verified yet gets 403."""
    await enforce(request, GUARDIAN_CODE_RATE, "guardian-code", str(parent.id))
    student = await guardians.redeem_guardian_code(parent=parent, code=body.code)
    return _child_out(await guardians.child_view(student=student))


@router.get("/users/me/children", operation_id="listChildren", tags=["guardians"])
async def list_children(parent: ParentUser, page: Paging) -> Page[ChildOut]:
    """The caller's linked children, most recently linked first."""
    children, cursor = await guardians.list_children(parent=parent, page=page)
    return Page(items=[_child_out(c) for c in children], next_cursor=cursor)


@router.delete(
    "/users/me/children/{student_id}",
    operation_id="removeChild",
    status_code=NO_CONTENT,
    tags=["guardians"],
)
async def remove_child(student_id: str, parent: ParentUser) -> None:
    """Unlink from a child; 404 if not linked."""
    await guardians.remove_child(parent=parent, student_id=student_id)


@router.delete(
    "/students/{student_id}/guardians/{parent_id}",
    operation_id="unlinkGuardian",
    status_code=NO_CONTENT,
    tags=["guardians"],
)
async def unlink_guardian(parent_id: str, student: ManagedStudent) -> None:
    """Remove a parent's link to the student (idempotent)."""
    await guardians.admin_unlink_guardian(student=student, parent_id=parent_id)


@router.get("/students/{student_id}/guardians", operation_id="listGuardians", tags=["guardians"])
async def list_guardians(student: GuardiansStudent, page: Paging) -> Page[GuardianOut]:
    """The parents linked to the student, most recently linked first: for the admins of
    every school of theirs and for their teachers."""
    linked, cursor = await finding.guardians_of(student=student, page=page)
    return Page(
        items=[
            GuardianOut(
                user_id=str(g.user.id),
                full_name=g.user.full_name,
                email=g.user.email,
                linked_at=as_utc(g.linked_at),
            )
            for g in linked
        ],
        next_cursor=cursor,
    )
