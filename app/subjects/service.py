"""Subject names for readers, and the lists schools keep.

A code a school's list does not know reads as it is written; the first grade, lesson or
homework that uses it adds it, named by its code, for the admin to rename.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from beanie import PydanticObjectId

from app.core.errors import Unprocessable
from app.subjects import repository
from app.subjects.models import LANGUAGES, Subject, subject_code

__all__ = [
    "SubjectNames",
    "names_joined",
    "note_subjects",
    "replace_subjects",
    "subject_code",
    "subject_names",
]


@dataclass(frozen=True)
class SubjectNames:
    """One school's subject names, read once, for many lines in many languages."""

    # key -> language -> name
    names: dict[str, dict[str, str]] = field(default_factory=dict)

    def name(self, code: str, locale: str) -> str:
        """The name in `locale`, else in another language, else the code as written."""
        by_language = self.names.get(subject_code(code), {})
        if by_language.get(locale):
            return by_language[locale]
        for language in LANGUAGES:
            if by_language.get(language):
                return by_language[language]
        return code

    @classmethod
    def of_rows(cls, rows: Iterable[Mapping[str, Any]]) -> SubjectNames:
        return cls({row["key"]: row.get("names") or {} for row in rows})


@dataclass(frozen=True)
class SchoolSubject:
    code: str
    names: dict[str, str]


async def subject_names(school_id: PydanticObjectId) -> SubjectNames:
    """A school's subject names: one database round trip."""
    return SubjectNames.of_rows(await repository.of_school(school_id))


def names_joined(*, school_field: str, into: str) -> list[dict[str, Any]]:
    """Subject names asked inside another domain's aggregation, so that a list naming its
    subjects costs no round trip of its own: a stage that sets `into` on each row to the
    subjects of the school its `school_field` names, read back with `SubjectNames.of_rows`.
    Put it after the rows are grouped by school: it reads one school's list per row."""
    return repository.names_gathered(school_field=school_field, into=into)


async def school_subjects(school_id: PydanticObjectId) -> list[SchoolSubject]:
    rows = await repository.of_school(school_id)
    return [SchoolSubject(code=row["code"], names=row.get("names") or {}) for row in rows]


async def note_subjects(school_id: PydanticObjectId, codes: Iterable[str]) -> None:
    """Add the codes the school's list does not know yet: one round trip, and two calls at
    once add a code once (the list's unique index)."""
    first_spelling: dict[str, str] = {}
    for code in codes:
        spelled = " ".join(code.split())
        if spelled:
            first_spelling.setdefault(subject_code(spelled), spelled)
    await repository.add_missing(
        [
            Subject(school_id=school_id, code=spelled, key=key)
            for key, spelled in first_spelling.items()
        ]
    )


async def replace_subjects(
    school_id: PydanticObjectId, subjects: Sequence[SchoolSubject]
) -> list[SchoolSubject]:
    """The school's list becomes `subjects`. Grades and lessons keep their codes: a code
    taken off the list reads as it is written."""
    seen: dict[str, int] = {}
    for position, subject in enumerate(subjects):
        key = subject_code(subject.code)
        if key in seen:
            raise Unprocessable(
                f"subjects[{position}].code: {subject.code!r} is listed twice "
                f"(also at subjects[{seen[key]}]; codes match whatever their case and spacing)"
            )
        seen[key] = position
    await repository.add_missing(
        [Subject(school_id=school_id, code=s.code, key=subject_code(s.code)) for s in subjects]
    )
    await repository.rename(
        school_id, {subject_code(s.code): (s.code, dict(s.names)) for s in subjects}
    )
    await repository.remove_all_but(school_id, list(seen))
    return await school_subjects(school_id)
