"""What an import answers: counts, and every bad row."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Created(BaseModel):
    students: int = 0
    teachers: int = 0
    admins: int = 0
    classes: int = 0
    parents_invited: int = Field(default=0, description="Guardian codes mailed to parents")


class RowError(BaseModel):
    row: int = Field(description="As the spreadsheet numbers it: the header is row 1")
    column: str = Field(description="The column's name, or empty for the whole row or file")
    message: str = Field(description="In the admin's language")


class ImportReport(BaseModel):
    rows: int = Field(description="Rows under the header that hold anything")
    created: Created
    unchanged: int = Field(description="Rows about people and places already as the row says")
    errors: list[RowError]
