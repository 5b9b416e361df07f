"""A Python client generated from the live /openapi.json runs product.md's three flows with
its own typed models, as a team writing a parents' app would use it."""

from __future__ import annotations

import importlib
import re
import sys
import time
from collections.abc import Iterator
from email import message_from_binary_file, policy
from email.message import EmailMessage
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.contract.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, LiveServer, run

# Starts `schoolbell dev` and generates the client: a minute under load.
pytestmark = pytest.mark.slow

PACKAGE = "schoolbell_client"


class GeneratedClient:
    """The generated package: its operations by tag and id, its models, its clients."""

    def __init__(self, package: ModuleType, base_url: str) -> None:
        self.package = package
        self.base_url = base_url
        self.models = importlib.import_module(f"{PACKAGE}.models")

    def operation(self, tag: str, operation_id: str) -> Any:
        module = re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()
        return importlib.import_module(f"{PACKAGE}.api.{tag}.{module}")

    def anonymous(self) -> Any:
        return self.package.Client(base_url=self.base_url, raise_on_unexpected_status=True)

    def as_user(self, email: str, password: str) -> Any:
        login = self.operation("auth", "login")
        pair = login.sync(
            client=self.anonymous(),
            body=self.models.LoginForm(username=email, password=password),
        )
        assert isinstance(pair, self.models.TokenPair), pair
        return self.package.AuthenticatedClient(
            base_url=self.base_url, token=pair.access_token, raise_on_unexpected_status=True
        )


@pytest.fixture(scope="session")
def generated(
    contract_server: LiveServer,
    contract_document: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GeneratedClient]:
    folder = tmp_path_factory.mktemp("python-client")
    config = folder / "config.yaml"
    # No formatting hook: the generator would look for ruff on PATH and warn without it.
    # A spreadsheet is bytes to a client; the generator knows no spreadsheet type by name.
    config.write_text(
        "post_hooks: []\ncontent_type_overrides:\n"
        "  application/vnd.openxmlformats-officedocument.spreadsheetml.sheet:"
        " application/octet-stream\n",
        encoding="utf-8",
    )
    generator = str(Path(sys.executable).with_name("openapi-python-client"))
    result = run(
        [
            generator,
            "generate",
            "--path",
            str(contract_document),
            "--output-path",
            str(folder / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        folder,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower(), output
    sys.path.insert(0, str(folder))
    try:
        yield GeneratedClient(importlib.import_module(PACKAGE), contract_server.base)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def mailed_token(outbox: Path, to: str, page: str) -> str:
    """The token of the newest link to `page` mailed to `to` (dev writes mail a moment
    after the request)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for path in sorted(outbox.glob("*.eml"), reverse=True):
            with path.open("rb") as file:
                mail = message_from_binary_file(file, policy=policy.default)
            assert isinstance(mail, EmailMessage)
            body = mail.get_body(preferencelist=("plain",))
            found = body and re.search(rf"/{page}\?token=([\w.-]+)", body.get_content())
            if mail["To"] == to and found:
                return found.group(1)
        time.sleep(0.2)
    raise AssertionError(f"no {page} link mailed to {to}")


def test_generated_names_are_the_operation_ids(generated: GeneratedClient) -> None:
    # "Add student to class" is schools.add_student_to_class, not the 80-character name
    # FastAPI derived from the path.
    assert callable(generated.operation("schools", "addStudentToClass").sync)
    assert generated.models.NotificationPage.__name__ == "NotificationPage"
    assert generated.models.LoginForm.__name__ == "LoginForm"


def test_the_three_flows_run_on_the_generated_client(
    generated: GeneratedClient, contract_server: LiveServer
) -> None:
    m = generated.models
    op = generated.operation
    admin = generated.as_user(ADMIN_EMAIL, ADMIN_PASSWORD)

    # The school a parent joins: a class, a physics teacher, a student and a guardian code.
    school = op("schools", "createSchool").sync(
        client=admin, body=m.SchoolCreate(name="School 12", timezone="Europe/Moscow")
    )
    assert isinstance(school, m.SchoolOut)
    klass = op("schools", "createClass").sync(
        school.id, client=admin, body=m.ClassCreate(name="7V", year=7)
    )
    assert isinstance(klass, m.ClassOut)
    people = {}
    for role, email, name in (
        (m.Role.TEACHER, "physics@contract.example.org", "Pavel Lebedev"),
        (m.Role.STUDENT, "vanya@contract.example.org", "Vanya Kozlov"),
    ):
        person = op("users", "createUser").sync(
            client=admin,
            body=m.UserCreateIn(
                email=email,
                full_name=name,
                role=role,
                password=f"{role.value}-password",
                school_id=school.id,
            ),
        )
        assert isinstance(person, m.UserOut)
        people[role] = person
    teacher, student = people[m.Role.TEACHER], people[m.Role.STUDENT]
    op("schools", "assignTeacher").sync_detailed(
        school.id, klass.id, teacher.id, client=admin, body=m.TeacherSubjectsIn(["physics"])
    )
    op("schools", "addStudentToClass").sync_detailed(school.id, klass.id, student.id, client=admin)
    # The body is optional in the document, but the generator cannot send an unset one.
    code = op("guardians", "issueGuardianCode").sync(
        student.id, client=admin, body=m.GuardianCodeIssue()
    )
    assert isinstance(code, m.GuardianCodeOut)

    # 1. A parent subscribes: registers, confirms the address, redeems the code, and takes
    # grades as a daily digest at 19:00.
    parent_email = "kozlova@contract.example.org"
    registered = op("auth", "register").sync_detailed(
        client=generated.anonymous(),
        body=m.RegisterIn(
            email=parent_email,
            password="parent-password",
            full_name="Natalia Kozlova",
            locale=m.Locale.RU,
            timezone="Europe/Moscow",
        ),
    )
    assert registered.status_code == 201
    token = mailed_token(contract_server.outbox, parent_email, "verify-email")
    op("auth", "verifyEmail").sync_detailed(client=generated.anonymous(), body=m.TokenIn(token))
    parent = generated.as_user(parent_email, "parent-password")
    child = op("guardians", "redeemGuardianCode").sync(
        client=parent, body=m.GuardianCodeRedeem(code=code.code)
    )
    assert isinstance(child, m.ChildOut) and child.id == student.id
    children = op("guardians", "listChildren").sync(client=parent)
    assert isinstance(children, m.ChildPage)
    assert [c.full_name for c in children.items] == ["Vanya Kozlov"]
    preferences = op("preferences", "updatePreferences").sync(
        client=parent,
        body=m.PreferencesPatch(
            email=m.PreferencesPatchEmailType0(grades=m.EmailFrequency.DAILY), digest_hour=19
        ),
    )
    assert isinstance(preferences, m.PreferencesOut)
    assert preferences.email.grades == m.EmailFrequency.DAILY
    assert preferences.digest_hour == 19

    # 2. A student fetches grades: two physics grades, newest first, a page at a time, and
    # the summary; the parent has the grade in the inbox.
    teacher_client = generated.as_user("physics@contract.example.org", "teacher-password")
    for value, kind in ((4, m.GradeKind.REGULAR), (5, m.GradeKind.TEST)):
        grade = op("grades", "createGrade").sync(
            client=teacher_client,
            body=m.GradeCreate(
                student_id=student.id,
                class_id=klass.id,
                subject="physics",
                value=value,
                kind=kind,
                comment="Lab report",
            ),
        )
        assert isinstance(grade, m.GradeOut)
    vanya = generated.as_user("vanya@contract.example.org", "student-password")
    first = op("grades", "listGrades").sync(student.id, client=vanya, subject="physics", limit=1)
    assert isinstance(first, m.GradePage)
    assert [g.value for g in first.items] == [5]
    assert isinstance(first.next_cursor, str)
    second = op("grades", "listGrades").sync(
        student.id, client=vanya, subject="physics", limit=1, cursor=first.next_cursor
    )
    assert isinstance(second, m.GradePage)
    assert [g.value for g in second.items] == [4]
    summary = op("grades", "getGradeSummary").sync(student.id, client=parent)
    assert isinstance(summary, m.GradeSummary)
    (physics,) = summary.subjects
    assert isinstance(physics, m.SubjectSummary)
    assert (physics.subject, physics.count, physics.last_value) == ("physics", 2, 5)
    inbox = op("notifications", "listNotifications").sync(client=parent, unread_only=True)
    assert isinstance(inbox, m.NotificationPage)
    # The inbox is a union told apart by topic: a grade's notice has its typed data.
    assert {n.topic for n in inbox.items} == {"grades"}
    assert all(isinstance(n, m.GradeNotification) for n in inbox.items)
    assert {n.data.subject for n in inbox.items} == {"physics"}
    assert all(isinstance(n.data, m.GradeNotice) for n in inbox.items)

    # 3. An admin broadcasts a critical announcement and reads its figures back.
    sent = op("announcements", "createAnnouncement").sync_detailed(
        client=admin,
        body=m.AnnouncementIn(
            school_id=school.id,
            title="School closed",
            body="Snow day",
            priority=m.Priority.CRITICAL,
        ),
    )
    assert sent.status_code == 202
    assert isinstance(sent.parsed, m.AnnouncementOut)
    deadline = time.monotonic() + 30
    while True:
        announcement = op("announcements", "getAnnouncement").sync(sent.parsed.id, client=admin)
        assert isinstance(announcement, m.AnnouncementOut)
        if announcement.status == m.AnnouncementStatus.PUBLISHED or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert announcement.status == m.AnnouncementStatus.PUBLISHED
    assert isinstance(announcement.stats, m.AnnouncementStats)
    # The teacher, the student and the parent.
    assert announcement.stats.recipients == 3
    parent_inbox = op("notifications", "listNotifications").sync(client=parent)
    assert isinstance(parent_inbox, m.NotificationPage)
    assert "School closed" in [n.title for n in parent_inbox.items]
