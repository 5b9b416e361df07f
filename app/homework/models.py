"""Homework: set by a class's teacher for a subject and a due date."""

from __future__ import annotations

from datetime import datetime

import pymongo
from beanie import Document, PydanticObjectId
from pydantic import Field

from app.core.security import utcnow


class Homework(Document):
    school_id: PydanticObjectId
    class_id: PydanticObjectId
    # The subject's code (app.subjects.service.subject_code): names are looked up per reader.
    subject: str
    # Whoever set it, a teacher or the school's admin: only they change it later.
    author_id: PydanticObjectId
    # The day it is due, stored as midnight UTC so it sorts and filters as a date.
    due: datetime
    text: str
    links: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "homework"
        indexes = [
            # A student's list: the classes they sit in, by due date, then _id for the cursor.
            pymongo.IndexModel([("class_id", 1), ("due", 1), ("_id", 1)], name="class_due"),
        ]
