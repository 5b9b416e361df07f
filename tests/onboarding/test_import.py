"""POST /schools/{id}/import over HTTP: a class from a spreadsheet, checked whole, written
once however often it is sent."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import httpx
import pytest

from app.auth.models import Locale, Role, User
from app.core.config import Settings
from app.schools.models import GuardianCode, School
from tests.auth.conftest import outbox, text_of
from tests.conftest import UserFactory, World
from tests.onboarding.conftest import (
    csv_bytes,
    stored_school,
    student,
    teacher,
    upload,
    xlsx_bytes,
)
from tests.schools.conftest import DriverLikeCollection

Login = Callable[[User], dict[str, str]]

FIVE_B = [
    teacher("Irina Petrova", "irina@school.example.org", "5B", "math; geometry"),
    teacher("Oleg Sidorov", "oleg@school.example.org", "5B", "history"),
    student("Masha Ivanova", "5B", parents="elena@home.example.org; pavel@home.example.org"),
    student(
        "Petya Smirnov", "5B", email="petya@school.example.org", parents="olga@home.example.org"
    ),
    student("Kolya Orlov", "5B", locale="ru"),
    {
        "role": "admin",
        "full_name": "Anna Deputy",
        "email": "anna@school.example.org",
        "locale": "ru",
    },
]


def mails_to(settings: Settings, address: str) -> list[str]:
    return [text_of(m) for m in outbox(settings) if m["To"] == address]


async def test_a_class_comes_in_with_invitations_and_parents_codes(
    client: httpx.AsyncClient, world: World, login_as: Login, settings: Settings
) -> None:
    response = await upload(client, world.school.id, csv_bytes(FIVE_B), login_as(world.admin))

    assert response.status_code == 200, response.text
    assert response.json() == {
        "rows": 6,
        "created": {
            "students": 3,
            "teachers": 2,
            "admins": 1,
            "classes": 1,
            "parents_invited": 3,
        },
        "unchanged": 0,
        "errors": [],
    }
    school = await stored_school(world.school.id)
    [class_5b] = [c for c in school.classes if c.name == "5B"]
    students = await User.find({"_id": {"$in": class_5b.student_ids}}).to_list()
    assert sorted(s.full_name for s in students) == [
        "Kolya Orlov",
        "Masha Ivanova",
        "Petya Smirnov",
    ]
    irina = await User.find_one({"email": "irina@school.example.org"})
    assert irina is not None and irina.role == Role.teacher and irina.school_ids == [school.id]
    assert class_5b.subjects_of(irina.id) == ["math", "geometry"]  # type: ignore[arg-type]
    # The roster reads back over the API too.
    roster = await client.get(
        f"/schools/{school.id}/classes/{class_5b.id}/students", headers=login_as(world.admin)
    )
    assert len(roster.json()["items"]) == 3

    # Staff and students with an address are invited, in their language, naming the school.
    [invitation] = mails_to(settings, "irina@school.example.org")
    assert "School 1" in invitation and "teacher" in invitation
    assert re.search(r"http://testserver/set-password\?token=\S+", invitation)
    [russian] = mails_to(settings, "anna@school.example.org")
    assert (
        "администратор" in russian and "«School 1»" in russian and "/set-password?token=" in russian
    )
    assert mails_to(settings, "petya@school.example.org")
    # Each parent gets the child's code, with a link to join with it.
    [code_mail] = mails_to(settings, "elena@home.example.org")
    assert re.search(r"http://testserver/join\?code=[A-Z0-9]{8}", code_mail)
    assert await GuardianCode.count() == 3
    # Never the "if you did not create an account" mail.
    assert not any(
        "did not create" in text for text in mails_to(settings, "oleg@school.example.org")
    )


async def test_the_same_file_again_changes_nothing(
    client: httpx.AsyncClient, world: World, login_as: Login, settings: Settings
) -> None:
    content = csv_bytes(FIVE_B)
    first = await upload(client, world.school.id, content, login_as(world.admin))
    assert first.status_code == 200
    before = (await stored_school(world.school.id)).model_dump()
    users = await User.count()
    mails = len(outbox(settings))

    again = await upload(client, world.school.id, content, login_as(world.admin))

    assert again.status_code == 200
    body = again.json()
    assert body["created"] == dict.fromkeys(body["created"], 0)
    assert body["unchanged"] == 6
    assert (await stored_school(world.school.id)).model_dump() == before
    assert await User.count() == users
    assert len(outbox(settings)) == mails


async def test_a_dry_run_answers_the_same_counts_and_writes_nothing(
    client: httpx.AsyncClient, world: World, login_as: Login, settings: Settings
) -> None:
    users = await User.count()
    before = (await stored_school(world.school.id)).model_dump()

    response = await upload(
        client, world.school.id, csv_bytes(FIVE_B), login_as(world.admin), dry_run=True
    )

    assert response.status_code == 200
    assert response.json()["created"] == {
        "students": 3,
        "teachers": 2,
        "admins": 1,
        "classes": 1,
        "parents_invited": 3,
    }
    assert await User.count() == users
    assert (await stored_school(world.school.id)).model_dump() == before
    assert await GuardianCode.count() == 0
    assert outbox(settings) == []


async def test_people_already_there_are_matched_not_doubled(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    # The fixture's teacher and student, by address; 5A exists (spelled "5a" here).
    rows = [
        teacher(
            world.teacher.full_name, world.teacher.email.upper(), "5a", "MATH; Physics; physics"
        ),
        student(world.student.full_name, "5a"),  # no address: matched by name in the class
        student(world.student.full_name, "5A", email=world.student.email),
    ]
    response = await upload(client, world.school.id, csv_bytes(rows[:2]), login_as(world.admin))

    assert response.status_code == 200, response.text
    assert response.json()["created"] == dict.fromkeys(response.json()["created"], 0)
    assert response.json()["unchanged"] == 1  # the teacher's row added physics
    school = await stored_school(world.school.id)
    assert [c.name for c in school.classes] == ["5A"]
    # One subject however it is spelled; a new one joins the school's list.
    assert school.classes[0].subjects_of(world.teacher.id) == ["math", "Physics"]  # type: ignore[arg-type]
    listed = await client.get(f"/schools/{world.school.id}/subjects", headers=login_as(world.admin))
    assert "Physics" in [s["code"] for s in listed.json()["subjects"]]
    assert school.classes[0].student_ids == [world.student.id]
    by_email = await upload(client, world.school.id, csv_bytes(rows[2:]), login_as(world.admin))
    assert by_email.json()["unchanged"] == 1


async def test_semicolons_and_a_bom_as_excel_writes_them(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    rows = [student("Маша Иванова", "5В", parents="mama@example.org")]
    content = csv_bytes(rows, delimiter=";", bom=True)

    response = await upload(client, world.school.id, content, login_as(world.admin))

    assert response.status_code == 200, response.text
    school = await stored_school(world.school.id)
    assert "5В" in [c.name for c in school.classes]
    assert await User.find_one({"full_name": "Маша Иванова"}) is not None


async def test_an_xlsx_file(client: httpx.AsyncClient, world: World, login_as: Login) -> None:
    response = await upload(
        client, world.school.id, xlsx_bytes(FIVE_B), login_as(world.admin), filename="5B.xlsx"
    )

    assert response.status_code == 200, response.text
    assert response.json()["created"]["students"] == 3
    assert await User.find_one({"email": "oleg@school.example.org"}) is not None


async def test_every_bad_row_is_reported_and_nothing_is_written(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    settings: Settings,
) -> None:
    other_school = School(name="Elsewhere")
    await other_school.insert()
    await make_user(Role.teacher, email="taken@example.org", school_ids=[other_school.id])
    await make_user(Role.parent, email="mum@example.org")
    rows = [
        student("Good Row", "5B"),  # 2: fine, yet not written
        {"role": "janitor", "full_name": "Bob", "email": "bob@example.org"},  # 3
        teacher("No Mail", ""),  # 4
        student("", "5B"),  # 5
        student("No Class", ""),  # 6
        student("Bad Parent", "5B", parents="not-an-address"),  # 7
        teacher("Subjects", "s@example.org", "", "math"),  # 8
        student("Lang", "5B", locale="de"),  # 9
        student("Good Row", "5b"),  # 10: the same child as row 2
        teacher("Elsewhere", "taken@example.org", "5B"),  # 11
        teacher("Mum", "mum@example.org", "5B"),  # 12
        student(world.student.full_name, "5B", email=world.student.email),  # 13: sits in 5A
        student("Ctrl\u202eName", "5B"),  # 14
    ]
    response = await upload(client, world.school.id, csv_bytes(rows), login_as(world.admin))

    assert response.status_code == 422
    body = response.json()
    errors = {(e["row"], e["column"]) for e in body["errors"]}
    assert errors >= {
        (3, "role"),
        (4, "email"),
        (5, "full_name"),
        (6, "class"),
        (7, "parent_emails"),
        (8, "subjects"),
        (9, "locale"),
        (10, "full_name"),
        (14, "full_name"),
    }
    assert all(e["message"] for e in body["errors"])
    assert "not-an-address" in next(e["message"] for e in body["errors"] if e["row"] == 7)
    assert "row 2" in next(e["message"] for e in body["errors"] if e["row"] == 10)
    assert await User.find_one({"full_name": "Good Row"}) is None
    assert [c.name for c in (await stored_school(world.school.id)).classes] == ["5A"]
    assert outbox(settings) == []

    # Rows that only the accounts can judge are reported once the file itself is right.
    accounts = await upload(
        client, world.school.id, csv_bytes([rows[0], *rows[9:12]]), login_as(world.admin)
    )
    assert accounts.status_code == 422
    by_row = {e["row"]: e for e in accounts.json()["errors"]}
    assert by_row[3]["column"] == "email" and "do not administer" in by_row[3]["message"]
    assert "(parent)" in by_row[4]["message"]
    assert by_row[5]["column"] == "class" and "5A" in by_row[5]["message"]
    assert await User.find_one({"full_name": "Good Row"}) is None


async def test_a_russian_admin_reads_the_errors_in_russian(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    await world.admin.set({"locale": Locale.ru})
    rows = [{"role": "уборщик", "full_name": "Боб"}]

    response = await upload(client, world.school.id, csv_bytes(rows), login_as(world.admin))

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["row"] == 2 and error["column"] == "role"
    assert error["message"].startswith("Роль должна быть")


@pytest.mark.parametrize(
    ("content", "column", "words"),
    [
        (b"", "", "empty"),
        (b"role,full_name,shoe_size\r\nstudent,A,42\r\n", "shoe_size", "Unknown column"),
        (b"full_name\r\nA\r\n", "role", "missing"),
        ("role,full_name\r\nstudent,Ма\r\n".encode("cp1251"), "", "UTF-8"),
        (b"PK\x03\x04 not really a workbook", "", "cannot be read"),
    ],
)
async def test_a_file_that_cannot_be_read_says_why(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    content: bytes,
    column: str,
    words: str,
) -> None:
    response = await upload(client, world.school.id, content, login_as(world.admin))

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["column"] == column and words in error["message"]


async def test_more_rows_than_one_file_may_hold(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    rows = [student(f"Child {i}", "5B") for i in range(2001)]

    response = await upload(client, world.school.id, csv_bytes(rows), login_as(world.admin))

    assert response.status_code == 422
    assert "at most 2000" in response.json()["errors"][-1]["message"]


async def test_only_an_admin_of_the_school_imports(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    other_school = School(name="Elsewhere")
    await other_school.insert()
    another_admin = await make_user(Role.admin, school_ids=[other_school.id])
    content = csv_bytes(FIVE_B)
    for user in (world.teacher, world.student, world.parent, another_admin):
        response = await upload(client, world.school.id, content, login_as(user))
        assert response.status_code == 403, (user.role, response.text)
    anonymous = await client.post(
        f"/schools/{world.school.id}/import", files={"file": ("a.csv", content)}
    )
    assert anonymous.status_code == 401
    assert await User.find_one({"email": "irina@school.example.org"}) is None


async def test_the_same_file_imported_twice_at_once_makes_everyone_once(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Both requests have read the accounts and planned the same new people before either
    # writes one, as on a real server.
    users = DriverLikeCollection(User.get_motor_collection(), methods={"insert_many"})
    monkeypatch.setattr(User, "get_motor_collection", classmethod(lambda cls: users))
    content = csv_bytes(FIVE_B)

    first, second = await asyncio.gather(
        upload(client, world.school.id, content, login_as(world.admin)),
        upload(client, world.school.id, content, login_as(world.admin)),
    )

    assert len(users.arrived) == 2
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    created = [r.json()["created"] for r in (first, second)]
    assert created[0]["students"] + created[1]["students"] == 3
    assert created[0]["classes"] + created[1]["classes"] == 1
    assert created[0]["parents_invited"] + created[1]["parents_invited"] == 3
    assert await User.find({"full_name": "Masha Ivanova"}).count() == 1
    school = await stored_school(world.school.id)
    [class_5b] = [c for c in school.classes if c.name == "5B"]
    assert len(class_5b.student_ids) == 3 and len(class_5b.teachers) == 2
    assert len(mails_to(settings, "elena@home.example.org")) == 1
    assert len(mails_to(settings, "irina@school.example.org")) == 1
