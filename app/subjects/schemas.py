"""The subject list as the API reads and writes it."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.text import PLAIN_LINE

SubjectCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60), PLAIN_LINE
]
SubjectName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120), PLAIN_LINE
]


class SubjectNamesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ru: SubjectName | None = Field(default=None, description="The name Russian readers see")
    en: SubjectName | None = Field(default=None, description="The name English readers see")


class SubjectIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"code": "math", "names": {"ru": "Математика", "en": "Mathematics"}}
        },
    )

    code: SubjectCode = Field(
        description="What grades, lessons and homework store; matched whatever its case and spacing"
    )
    names: SubjectNamesIn = Field(
        default_factory=SubjectNamesIn,
        description="The name per language; a language without one reads the other, then the code",
    )


class SubjectListIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subjects: list[SubjectIn] = Field(
        max_length=300, description="The whole list: subjects not in it are taken off"
    )


class SubjectOut(BaseModel):
    code: str
    names: dict[str, str]


class SubjectListOut(BaseModel):
    subjects: list[SubjectOut]
