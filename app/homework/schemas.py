"""Request and response bodies for homework."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.core.db import ObjectIdField
from app.core.security import as_utc
from app.core.text import PLAIN_BODY, PLAIN_LINE
from app.homework.models import Homework

MAX_SUBJECT_LENGTH = 100
MAX_TEXT_LENGTH = 5000
MAX_LINKS = 10
MAX_LINK_LENGTH = 2000


def _web_address(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
        raise ValueError("must be a web address starting with http:// or https://")
    return value


Subject = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_SUBJECT_LENGTH),
    PLAIN_LINE,
    Field(examples=["math"]),
]
Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_LENGTH),
    PLAIN_BODY,
]
Link = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_LINK_LENGTH),
    PLAIN_LINE,
    AfterValidator(_web_address),
    Field(examples=["https://school.example.org/5a/math/exercises"]),
]


class HomeworkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    class_id: ObjectIdField = Field(description="A class you teach this subject in")
    subject: Subject = Field(description="One of your subjects in that class (its code)")
    due: dt.date = Field(description="The day it is due (YYYY-MM-DD), today or later")
    text: Text = Field(description="What to do; plain text, line breaks kept")
    links: list[Link] = Field(
        default_factory=list, max_length=MAX_LINKS, description="Web addresses (http/https)"
    )


class HomeworkUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    due: dt.date | None = Field(default=None, description="A new due day, today or later")
    text: Text | None = Field(default=None, description="The new text")
    links: list[Link] | None = Field(
        default=None, max_length=MAX_LINKS, description="Replaces the links; [] removes them"
    )


class HomeworkOut(BaseModel):
    id: str
    school_id: str
    class_id: str
    subject: str
    subject_name: str = Field(description="The subject's name in the reader's language")
    author_id: str
    due: dt.date
    text: str
    links: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, homework: Homework, *, subject_name: str) -> HomeworkOut:
        return cls(
            id=str(homework.id),
            school_id=str(homework.school_id),
            class_id=str(homework.class_id),
            subject=homework.subject,
            subject_name=subject_name,
            author_id=str(homework.author_id),
            due=as_utc(homework.due).date(),
            text=homework.text,
            links=homework.links,
            created_at=as_utc(homework.created_at),
            updated_at=as_utc(homework.updated_at),
        )
