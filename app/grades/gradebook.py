"""A class's register: a lesson's grades posted for the whole class at once, and the class's
grades in one subject read back as a students × dates table."""

from __future__ import annotations

import datetime as dt
from typing import Any

from beanie import PydanticObjectId

from app.auth import directory
from app.auth.models import Role, User
from app.core import jobs
from app.core.errors import Unprocessable
from app.core.security import as_utc
from app.grades import notices, repository
from app.grades.models import Grade, rounded
from app.grades.schemas import (
    BatchRow,
    GradeBatch,
    Gradebook,
    GradebookCell,
    GradebookStudent,
    GradeCreate,
)
from app.grades.service import assigned_spelling, days_between, new_grade
from app.schools.models import School, SchoolClass
from app.subjects.service import subject_code


def _row_problem(
    row: BatchRow,
    *,
    school: School,
    school_class: SchoolClass,
    students: dict[PydanticObjectId, User],
    seen: set[PydanticObjectId],
) -> tuple[str, str] | None:
    """(field, what is wrong) with one row of a batch, or None when it may be stored."""
    scale = school.grade_scale
    if row.student_id in seen:
        return "student_id", "this student already has a row in this batch"
    if not scale.min <= row.value <= scale.max:
        return (
            "value",
            f"value {row.value} is outside this school's grade scale {scale.min}..{scale.max}",
        )
    if row.student_id not in school_class.student_ids:
        return "student_id", f"student is not on the roster of class {school_class.name}"
    student = students.get(row.student_id)
    if student is None or student.role != Role.student:
        return "student_id", "student does not exist or is no longer active"
    return None


def _refused_rows(
    batch: GradeBatch,
    *,
    school: School,
    school_class: SchoolClass,
    students: dict[PydanticObjectId, User],
) -> list[dict[str, Any]]:
    """Every row that cannot be stored, each named by its index and student, in the shape
    of a validation error so a client shows both kinds the same way."""
    refused: list[dict[str, Any]] = []
    seen: set[PydanticObjectId] = set()
    for index, row in enumerate(batch.grades):
        problem = _row_problem(
            row, school=school, school_class=school_class, students=students, seen=seen
        )
        seen.add(row.student_id)
        if problem is not None:
            field, message = problem
            refused.append(
                {
                    "loc": ["body", "grades", index, field],
                    "msg": f"row {index} (student {row.student_id}): {message}",
                    "type": "batch_row",
                    "row": index,
                    "student_id": str(row.student_id),
                }
            )
    return refused


async def create_grades(
    *,
    teacher: User,
    school: School,
    school_class: SchoolClass,
    batch: GradeBatch,
    students: dict[PydanticObjectId, User],
) -> list[Grade]:
    """Post a lesson's grades for a class, all or none: a batch with any row that cannot be
    stored is refused whole, naming every such row. Each grade notifies as a single one."""
    refused = _refused_rows(batch, school=school, school_class=school_class, students=students)
    if refused:
        raise Unprocessable(refused)
    grades = [
        new_grade(
            teacher=teacher,
            school=school,
            school_class=school_class,
            # Each field was checked as the batch was read.
            data=GradeCreate.model_construct(
                student_id=row.student_id,
                class_id=school_class.id,
                subject=batch.subject,
                value=row.value,
                kind=batch.kind,
                weight=batch.weight,
                comment=row.comment,
                date=batch.date,
            ),
        )
        for row in batch.grades
    ]
    # One job record for the batch, written before the grades, as a single grade's is.
    notice = await notices.reserve_batch_notice(grades)
    await repository.insert_batch(grades)
    await jobs.send(notice)
    return grades


def _cells(grades: list[dict[str, Any]]) -> list[GradebookCell]:
    return [
        GradebookCell(
            id=str(grade["_id"]),
            date=as_utc(grade["date"]).date(),
            value=grade["value"],
            kind=grade["kind"],
            weight=grade["weight"],
        )
        for grade in grades
    ]


async def class_gradebook(
    *,
    school: School,
    school_class: SchoolClass,
    subject: str,
    date_from: dt.date | None,
    date_to: dt.date | None,
) -> Gradebook:
    """The class's grades in one subject as a register: its roster by name, each student's
    grades oldest first and weighted average, and every day that has a grade. One
    aggregation for the grades, one read for the names."""
    assert school.id is not None
    match: dict[str, Any] = {
        "school_id": school.id,
        "class_id": school_class.id,
        "subject_key": subject_code(subject),
        **days_between(date_from, date_to, names=("from", "to")),
    }
    found = await repository.register_rows(
        match, then=directory.name_stages("_id", into="full_name")
    )
    rows = {row["_id"]: row for row in found}
    # Students who left the class keep their grades, and the register shows them after the
    # roster, as a paper one keeps a struck-out line.
    student_ids = list(dict.fromkeys([*school_class.student_ids, *rows]))
    # Names come with the grades; only students without a grade in the range need a read.
    names = {sid: row["full_name"] for sid, row in rows.items() if row.get("full_name")}
    ungraded = [sid for sid in student_ids if sid not in names]
    if ungraded:
        names.update(await directory.full_names(ungraded))
    students = []
    days: set[dt.date] = set()
    for student_id in student_ids:
        row = rows.get(student_id)
        cells = _cells(row["grades"]) if row else []
        days.update(cell.date for cell in cells)
        students.append(
            GradebookStudent(
                student_id=str(student_id),
                full_name=names.get(student_id, "—"),
                grades=cells,
                weighted_average=rounded(row["weighted_sum"] / row["weight_sum"])
                if row and row["weight_sum"]
                else None,
            )
        )
    on_roster = set(school_class.student_ids)
    students.sort(key=lambda s: (PydanticObjectId(s.student_id) not in on_roster, s.full_name))
    return Gradebook(
        subject=assigned_spelling(school_class, subject) or subject,
        dates=sorted(days),
        students=students,
    )
