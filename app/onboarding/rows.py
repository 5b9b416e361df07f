"""One row of an import file as a person to bring in, or the problems that keep it out.

These checks need nothing but the file; what the school and the accounts already hold is
checked by the service.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import TypeAdapter, ValidationError

from app.auth.models import Locale, Role, normalize_email
from app.auth.schemas import Email
from app.core.text import first_refused_character
from app.onboarding.spreadsheet import Problem, SheetRow
from app.subjects.service import subject_code

IMPORTED_ROLES = (Role.student, Role.teacher, Role.admin)
MAX_NAME = 200
MAX_CLASS_NAME = 50
MAX_SUBJECT = 100
MAX_SUBJECTS = 20
MAX_PARENTS = 4
_email = TypeAdapter(Email)


@dataclass
class Person:
    number: int
    role: Role
    full_name: str
    email: str | None
    class_name: str | None
    subjects: list[str] = field(default_factory=list)
    parent_emails: list[str] = field(default_factory=list)
    locale: Locale | None = None


def _one_per_subject(subjects: list[str]) -> list[str]:
    """ "Math" and "math" are one subject: the first spelling stays."""
    first: dict[str, str] = {}
    for subject in subjects:
        first.setdefault(subject_code(subject), subject)
    return list(first.values())


def _split(cell: str) -> list[str]:
    return [part.strip() for part in cell.replace(",", ";").split(";") if part.strip()]


def _text(row: SheetRow, column: str, limit: int, problems: list[Problem]) -> str:
    value = " ".join(row.cells.get(column, "").split())
    if len(value) > limit:
        problems.append(Problem(row.number, column, "import.too_long", (("limit", limit),)))
    elif first_refused_character(value) is not None:
        problems.append(Problem(row.number, column, "import.plain_text"))
    return value


def _address(row: SheetRow, column: str, value: str, problems: list[Problem]) -> str | None:
    try:
        return normalize_email(_email.validate_python(value))
    except ValidationError:
        problems.append(Problem(row.number, column, "import.email", (("value", value[:80]),)))
        return None


def person_of(row: SheetRow, problems: list[Problem]) -> Person | None:
    """The person a row describes; None (and problems added) when it is wrong."""
    before = len(problems)
    number = row.number
    role_text = row.cells.get("role", "").strip().lower()
    role = Role(role_text) if role_text in {r.value for r in IMPORTED_ROLES} else None
    if role is None:
        problems.append(Problem(number, "role", "import.role", (("value", role_text[:40]),)))
    full_name = _text(row, "full_name", MAX_NAME, problems)
    if not full_name:
        problems.append(Problem(number, "full_name", "import.required"))
    email_text = row.cells.get("email", "").strip()
    email = _address(row, "email", email_text, problems) if email_text else None
    if not email_text and role in (Role.teacher, Role.admin):
        problems.append(Problem(number, "email", "import.email_required"))
    class_name = _text(row, "class", MAX_CLASS_NAME, problems) or None
    if role == Role.student and class_name is None:
        problems.append(Problem(number, "class", "import.class_required"))
    if role == Role.admin and class_name is not None:
        problems.append(Problem(number, "class", "import.admin_class"))
    subjects = [" ".join(s.split()) for s in _split(row.cells.get("subjects", ""))]
    if subjects and role != Role.teacher:
        problems.append(Problem(number, "subjects", "import.only_teachers"))
    elif subjects and class_name is None:
        problems.append(Problem(number, "subjects", "import.subjects_class"))
    elif len(subjects) > MAX_SUBJECTS or any(
        len(s) > MAX_SUBJECT or first_refused_character(s) is not None for s in subjects
    ):
        problems.append(Problem(number, "subjects", "import.subjects"))
    parents = _split(row.cells.get("parent_emails", ""))
    if parents and role != Role.student:
        problems.append(Problem(number, "parent_emails", "import.only_students"))
    elif len(parents) > MAX_PARENTS:
        problems.append(
            Problem(number, "parent_emails", "import.too_many_parents", (("limit", MAX_PARENTS),))
        )
    parent_emails = [a for a in (_address(row, "parent_emails", p, problems) for p in parents) if a]
    if email is not None and email in parent_emails:
        problems.append(Problem(number, "parent_emails", "import.parent_is_child"))
    locale_text = row.cells.get("locale", "").strip().lower()
    locale = Locale(locale_text) if locale_text in {loc.value for loc in Locale} else None
    if locale_text and locale is None:
        problems.append(Problem(number, "locale", "import.locale", (("value", locale_text[:20]),)))
    if len(problems) > before or role is None:
        return None
    return Person(
        number=number,
        role=role,
        full_name=full_name,
        email=email,
        class_name=class_name,
        subjects=_one_per_subject(subjects),
        parent_emails=list(dict.fromkeys(parent_emails)),
        locale=locale,
    )
