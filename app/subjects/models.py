"""A school's subject: the code stored everywhere, and what people read for it."""

from __future__ import annotations

from datetime import datetime

from beanie import Document, PydanticObjectId
from pydantic import Field
from pymongo import IndexModel

from app.core.security import utcnow

LANGUAGES = ("ru", "en")


def subject_code(text: str) -> str:
    """The form subjects are matched in: "  Russian  Literature" and "russian literature"
    are one subject. Stored beside the spelling, so a filter is an equality an index serves."""
    return " ".join(text.split()).casefold()


class Subject(Document):
    school_id: PydanticObjectId
    # As the admin (or the first grade or lesson that used it) wrote it.
    code: str
    key: str
    # Language -> name; a language without one reads the other, then the code.
    names: dict[str, str] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "subjects"
        indexes = [
            # One per school and code; a school's list reads in key order from it.
            IndexModel([("school_id", 1), ("key", 1)], unique=True, name="school_subject"),
        ]
