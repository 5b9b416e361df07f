"""GET, PUT /schools/{school_id}/subjects."""

from __future__ import annotations

from fastapi import APIRouter

from app.subjects import service
from app.subjects.access import AdminSchool, MemberSchool
from app.subjects.schemas import SubjectListIn, SubjectListOut, SubjectOut

router = APIRouter(tags=["subjects"])


def _listed(subjects: list[service.SchoolSubject]) -> SubjectListOut:
    return SubjectListOut(subjects=[SubjectOut(code=s.code, names=s.names) for s in subjects])


@router.get("/schools/{school_id}/subjects", operation_id="listSubjects")
async def list_subjects(school: MemberSchool) -> SubjectListOut:
    """The school's subjects and their names per language, in code order."""
    assert school.id is not None
    return _listed(await service.school_subjects(school.id))


@router.put("/schools/{school_id}/subjects", operation_id="replaceSubjects")
async def replace_subjects(body: SubjectListIn, school: AdminSchool) -> SubjectListOut:
    """Replace the school's subject list. Grades, lessons and homework keep their codes; a
    code taken off the list reads as it is written until something uses it again."""
    assert school.id is not None
    subjects = [
        service.SchoolSubject(code=s.code, names=s.names.model_dump(exclude_none=True))
        for s in body.subjects
    ]
    return _listed(await service.replace_subjects(school.id, subjects))
