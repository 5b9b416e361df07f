"""Schools with their classes embedded, and guardian links between parents and students."""

from __future__ import annotations

from datetime import datetime

import pymongo
from beanie import Document, PydanticObjectId
from bson import ObjectId
from pydantic import BaseModel, Field

from app.core.security import utcnow


class GradeScale(BaseModel):
    min: int = 1
    max: int = 5


class TeacherAssignment(BaseModel):
    teacher_id: PydanticObjectId
    subjects: list[str] = Field(default_factory=list)


class SchoolClass(BaseModel):
    id: PydanticObjectId = Field(default_factory=lambda: PydanticObjectId(ObjectId()))
    name: str
    year: int | None = None
    student_ids: list[PydanticObjectId] = Field(default_factory=list)
    teachers: list[TeacherAssignment] = Field(default_factory=list)

    def subjects_of(self, teacher_id: PydanticObjectId) -> list[str]:
        for assignment in self.teachers:
            if assignment.teacher_id == teacher_id:
                return assignment.subjects
        return []

    def has_teacher(self, teacher_id: PydanticObjectId) -> bool:
        return any(a.teacher_id == teacher_id for a in self.teachers)


class School(Document):
    name: str
    timezone: str = "UTC"
    grade_scale: GradeScale = Field(default_factory=GradeScale)
    classes: list[SchoolClass] = Field(default_factory=list)
    deleted_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "schools"
        indexes = [
            pymongo.IndexModel([("classes.id", 1)], name="class_id"),
            pymongo.IndexModel([("classes.student_ids", 1)], name="class_students"),
            pymongo.IndexModel([("classes.teachers.teacher_id", 1)], name="class_teachers"),
        ]

    def find_class(self, class_id: PydanticObjectId) -> SchoolClass | None:
        return next((c for c in self.classes if c.id == class_id), None)


class GuardianLink(Document):
    parent_id: PydanticObjectId
    student_id: PydanticObjectId
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "guardian_links"
        indexes = [
            pymongo.IndexModel(
                [("parent_id", 1), ("student_id", 1)], unique=True, name="parent_student_unique"
            ),
            pymongo.IndexModel([("student_id", 1)], name="student"),
            pymongo.IndexModel(
                [("student_id", 1), ("created_at", -1), ("_id", -1)], name="student_newest"
            ),
            # A parent's children, most recently linked first.
            pymongo.IndexModel(
                [("parent_id", 1), ("created_at", -1), ("_id", -1)], name="parent_newest"
            ),
        ]


class GuardianCode(Document):
    code_hash: str
    student_id: PydanticObjectId
    issued_by: PydanticObjectId
    expires_at: datetime
    # The (normalised) address the code was mailed to: a parent new here registers with it.
    email: str | None = None
    # Accounts that asked for the child from the join page and are waiting to confirm their
    # address; the first of them to confirm while the code is good is linked.
    claimants: list[PydanticObjectId] = Field(default_factory=list)
    redeemed_by: PydanticObjectId | None = None
    redeemed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "guardian_codes"
        indexes = [
            pymongo.IndexModel([("code_hash", 1)], unique=True, name="code_hash_unique"),
            pymongo.IndexModel([("claimants", 1), ("redeemed_at", 1)], name="claimants"),
        ]
