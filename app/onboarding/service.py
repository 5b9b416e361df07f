"""Bringing a school's people in from one spreadsheet: accounts (auth), classes, rosters and
teaching (schools), invitations, and guardian codes mailed to the parents listed.

The file is checked whole before anything is written: every bad row is reported, and a
file with any bad row writes nothing. The database work is a fixed number of batched reads
and writes, however many rows. Importing the same file again changes nothing: people are
matched by email, students without one by name and class; the same file imported twice at
the same moment creates nobody twice (each write is conditional or keyed, see
schools.enrolment and auth.service.insert_invited_users).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from beanie import PydanticObjectId

from app.auth import directory
from app.auth import service as auth_service
from app.auth import tokens as auth_tokens
from app.auth.models import Role, User
from app.core.config import Settings
from app.onboarding.rows import Person, person_of
from app.onboarding.spreadsheet import Problem, UnreadableSheet, read_sheet
from app.schools import enrolment, parent_invitations
from app.schools.access import is_school_admin
from app.schools.enrolment import Enrolment
from app.schools.models import School, SchoolClass
from app.subjects.service import note_subjects, subject_code

# Students without an address get one that can never receive mail (RFC 2606 keeps .invalid
# unresolvable), derived from school, class and name: the account's unique address is then
# what keeps two imports of the same row from making two children.
NO_EMAIL_DOMAIN = "no-email.invalid"


@dataclass
class Outcome:
    rows: int = 0
    created: Counter[str] = field(default_factory=Counter)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)


def _folded(text: str) -> str:
    return " ".join(text.split()).casefold()


def no_email_address(school_id: PydanticObjectId, class_name: str, full_name: str) -> str:
    key = f"{school_id}|{_folded(class_name)}|{_folded(full_name)}".encode()
    return f"student-{hashlib.sha256(key).hexdigest()[:24]}@{NO_EMAIL_DOMAIN}"


def _within_file(people: list[Person], problems: list[Problem]) -> None:
    """Rows that repeat a person: one account per address (a teacher may have a row per
    class), one child per name and class."""
    by_email: dict[str, Person] = {}
    taught: set[tuple[str, str | None]] = set()
    students: dict[tuple[str, str], Person] = {}
    for person in people:
        if person.email is not None:
            first = by_email.setdefault(person.email, person)
            repeat_of_teacher = (
                first is not person
                and person.role == first.role == Role.teacher
                and _folded(person.full_name) == _folded(first.full_name)
                and (person.email, _class_key(person)) not in taught
            )
            if first is not person and not repeat_of_teacher:
                problems.append(
                    Problem(person.number, "email", "import.repeated", (("row", first.number),))
                )
            taught.add((person.email, _class_key(person)))
        elif person.role == Role.student and person.class_name is not None:
            key = (_folded(person.class_name), _folded(person.full_name))
            first = students.setdefault(key, person)
            if first is not person:
                problems.append(
                    Problem(person.number, "full_name", "import.repeated", (("row", first.number),))
                )


def _class_key(person: Person) -> str | None:
    return _folded(person.class_name) if person.class_name is not None else None


@dataclass
class _Plan:
    new_users: list[User]
    enrolment: Enrolment
    invitations: list[tuple[User, str]]
    changing_rows: set[int]


async def _plan(
    *, admin: User, school: School, people: list[Person], problems: list[Problem]
) -> _Plan:
    school_id = school.id
    assert school_id is not None
    classes = {_folded(c.name): c for c in school.classes}
    seated = enrolment.seated_in(school)
    # The class each row names, spelled as the school has it, else as first in the file.
    spelled: dict[str, str] = {}
    for person in people:
        if person.class_name is not None:
            key = _folded(person.class_name)
            spelled.setdefault(key, classes[key].name if key in classes else person.class_name)

    # Existing accounts: by address (students without one by their derived address), and
    # students put on a roster some other way by name in their class.
    def address_of(person: Person) -> str:
        if person.email is not None:
            return person.email
        assert person.class_name is not None
        return no_email_address(school_id, spelled[_folded(person.class_name)], person.full_name)

    found = {
        u.email: u for u in await auth_service.users_by_emails([address_of(p) for p in people])
    }
    unnamed_in = {_folded(p.class_name) for p in people if p.email is None and p.class_name}
    on_rosters: dict[tuple[str, str], User] = {}
    roster_ids = [s for c in school.classes if _folded(c.name) in unnamed_in for s in c.student_ids]
    if roster_ids:
        for student in await directory.live_users(roster_ids):
            assert student.id is not None
            on_rosters[(_folded(seated[student.id].name), _folded(student.full_name))] = student

    plan = _Plan(
        [], Enrolment(class_names=list(spelled.values()), subject_key=subject_code), [], set()
    )
    for person in people:
        address = address_of(person)
        account = found.get(address)
        if account is None and person.email is None:
            assert person.class_name is not None
            account = on_rosters.get((_folded(person.class_name), _folded(person.full_name)))
        class_name = spelled[_folded(person.class_name)] if person.class_name else None
        if account is None:
            account = User(
                id=PydanticObjectId(),
                email=address,
                full_name=person.full_name,
                role=person.role,
                password_hash=auth_service.NO_PASSWORD,
                school_ids=[school.id],
                locale=person.locale or admin.locale,
                timezone=school.timezone,
            )
            plan.new_users.append(account)
            plan.changing_rows.add(person.number)
            found[address] = account  # a teacher's next row is about this account too
        elif not _may_take(admin, school, person, account, seated, class_name, problems):
            continue
        elif school.id not in account.school_ids:
            plan.changing_rows.add(person.number)
        assert account.id is not None
        plan.enrolment.members.append(account.id)
        if person.role == Role.student and class_name is not None:
            if account.id not in seated:
                plan.changing_rows.add(person.number)
            plan.enrolment.seats.setdefault(class_name, []).append(account.id)
            plan.invitations += [(account, parent) for parent in person.parent_emails]
        if person.role == Role.teacher and class_name is not None:
            teaching = plan.enrolment.teaching.setdefault(class_name, {})
            subjects = teaching.setdefault(account.id, [])
            known = {subject_code(s) for s in subjects}
            subjects += [s for s in person.subjects if subject_code(s) not in known]
            current = classes.get(_folded(class_name))
            has = current.subjects_of(account.id) if current is not None else []
            new = {subject_code(s) for s in person.subjects} - {subject_code(s) for s in has}
            if current is None or not current.has_teacher(account.id) or new:
                plan.changing_rows.add(person.number)
    return plan


def _may_take(
    admin: User,
    school: School,
    person: Person,
    account: User,
    seated: dict[PydanticObjectId, SchoolClass],
    class_name: str | None,
    problems: list[Problem],
) -> bool:
    """Whether a row may be about this existing account; a problem added when not."""
    column = "email" if person.email is not None else "full_name"
    if account.is_deleted:
        problems.append(Problem(person.number, column, "import.deleted"))
        return False
    if account.role != person.role:
        problems.append(
            Problem(person.number, column, "import.other_role", (("role", account.role.value),))
        )
        return False
    # As adding a person by id: only someone of no school yet or of one this admin runs.
    if account.school_ids and not any(is_school_admin(admin, s) for s in account.school_ids):
        problems.append(Problem(person.number, column, "import.elsewhere"))
        return False
    assert account.id is not None
    place = seated.get(account.id)
    if person.role == Role.student and place is not None and class_name is not None:
        other = place.name
        if _folded(other) != _folded(class_name):
            problems.append(
                Problem(person.number, "class", "import.seated_elsewhere", (("class", other),))
            )
            return False
    return True


async def import_people(
    *, settings: Settings, admin: User, school: School, content: bytes, dry_run: bool
) -> Outcome:
    """Check the file whole, then (unless `dry_run`, or any row is bad) bring its people in."""
    outcome = Outcome()
    try:
        sheet = read_sheet(content)
    except UnreadableSheet as exc:
        outcome.problems = exc.problems
        return outcome
    outcome.rows = len(sheet)
    people = [p for p in (person_of(row, outcome.problems) for row in sheet) if p is not None]
    _within_file(people, outcome.problems)
    if outcome.problems:
        return outcome
    plan = await _plan(admin=admin, school=school, people=people, problems=outcome.problems)
    if outcome.problems:
        return outcome
    outcome.unchanged = outcome.rows - len(plan.changing_rows)
    if dry_run:
        for user in plan.new_users:
            outcome.created[user.role.value + "s"] += 1
        known = {c.name for c in school.classes}
        outcome.created["classes"] = len(set(plan.enrolment.class_names) - known)
        wanted = await parent_invitations.codes_to_mail(plan.invitations)
        outcome.created["parents_invited"] = len(wanted)
        return outcome
    await _bring_in(settings=settings, admin=admin, school=school, plan=plan, outcome=outcome)
    return outcome


async def _bring_in(
    *, settings: Settings, admin: User, school: School, plan: _Plan, outcome: Outcome
) -> None:
    assert school.id is not None
    written = await auth_service.insert_invited_users(plan.new_users)
    written_ids = {u.id for u in written}
    lost = [u for u in plan.new_users if u.id not in written_ids]
    if lost:
        # A parallel import of the same rows wrote these first: theirs are the accounts.
        theirs = {u.email: u for u in await auth_service.users_by_emails([u.email for u in lost])}
        replaced = {u.id: theirs[u.email] for u in lost if u.email in theirs}
        _use_accounts(plan, replaced)
    for user in written:
        outcome.created[user.role.value + "s"] += 1
    enrolled = await enrolment.enrol(school_id=school.id, enrolment=plan.enrolment)
    outcome.created["classes"] = enrolled.classes_created
    taught = [s for t in plan.enrolment.teaching.values() for ss in t.values() for s in ss]
    await note_subjects(school.id, taught)
    await auth_tokens.send_invitations(
        settings=settings,
        invited=[u for u in written if not u.email.endswith("@" + NO_EMAIL_DOMAIN)],
        school_name=school.name,
    )
    outcome.created["parents_invited"] = await parent_invitations.mail_guardian_codes(
        settings=settings, issuer=admin, invitations=plan.invitations
    )


def _use_accounts(plan: _Plan, replaced: dict[PydanticObjectId | None, User]) -> None:
    """Point the plan at the accounts a parallel import wrote in place of ours."""

    def swap(user_id: PydanticObjectId) -> PydanticObjectId:
        account = replaced.get(user_id)
        return account.id if account is not None and account.id is not None else user_id

    e = plan.enrolment
    e.members = [swap(i) for i in e.members]
    e.seats = {name: [swap(i) for i in ids] for name, ids in e.seats.items()}
    e.teaching = {
        name: {swap(i): subjects for i, subjects in teaching.items()}
        for name, teaching in e.teaching.items()
    }
    plan.invitations = [(replaced.get(s.id, s), address) for s, address in plan.invitations]
