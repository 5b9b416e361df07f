"""A lesson's register over HTTP: who may keep it, what it refuses, and what it tells
parents: an absence at once by email in their language, once; a correction to exactly
those told, once; never a second absence notice."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.auth.models import Role, User
from app.core.i18n import format_date
from app.notifications.preferences import Preferences, QuietHours
from app.schools.models import GuardianLink
from tests.attendance.helpers import absent, mark, other_school_admin, register_path, school_day
from tests.conftest import UserFactory, World
from tests.delivery.conftest import CountingSmtpServer
from tests.delivery.helpers import only_message_to, received_by, text_of
from tests.grades.helpers import add_class, assign_teacher

Login = Callable[[User], dict[str, str]]


async def linked(world: World, parent: User) -> User:
    assert parent.id is not None and world.student.id is not None
    await GuardianLink(parent_id=parent.id, student_id=world.student.id).insert()
    return parent


async def attendance_inbox(client: httpx.AsyncClient, user_headers: dict[str, str]) -> list[Any]:
    response = await client.get(
        "/notifications", params={"topic": "attendance"}, headers=user_headers
    )
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def test_an_absence_emails_a_russian_parent_at_once_in_russian(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    smtp_server: CountingSmtpServer,
) -> None:
    parent = await linked(
        world, await make_user(Role.parent, locale="ru", timezone="Europe/Moscow")
    )

    response = await mark(client, login_as(world.teacher), world, [absent(world.student)], period=2)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["changed"] == 1 and body["period"] == 2
    assert body["marks"] == [
        {
            "student_id": str(world.student.id),
            "class_id": str(world.class_5a.id),
            "date": school_day(world),
            "period": 2,
            "status": "absent",
            "note": None,
        }
    ]
    message = only_message_to(smtp_server, parent.email)
    today = format_date(dt.date.fromisoformat(school_day(world)), "ru")
    assert message["Subject"] == f"Отсутствие: {world.student.full_name}, {today}, урок 2"
    text = text_of(message)
    assert f"{world.student.full_name}: отмечен(а) как отсутствующий(ая) на уроке 2." in text
    assert "Урок: 2" in text and "Класс: 5A" in text
    assert f"Вы получили это письмо как родитель: {world.student.full_name}." in text
    # The other linked parent (English) hears too; the student and the teacher do not.
    english = text_of(only_message_to(smtp_server, world.parent.email))
    assert f"{world.student.full_name} has been marked absent from lesson 2." in english
    assert received_by(smtp_server, world.student.email) == []
    assert received_by(smtp_server, world.teacher.email) == []
    [notice] = await attendance_inbox(client, login_as(parent))
    assert notice["priority"] == "high"
    assert notice["title"].startswith(f"{world.student.full_name}: отсутствует на уроке 2, ")


async def test_the_same_register_twice_changes_nothing_and_tells_nobody_again(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    teacher = login_as(world.teacher)
    first = await mark(client, teacher, world, [absent(world.student, note="ill")])
    second = await mark(client, teacher, world, [absent(world.student, note="ill")])

    assert first.json()["changed"] == 1
    assert second.status_code == 200 and second.json()["changed"] == 0
    assert second.json()["marks"] == first.json()["marks"]
    only_message_to(smtp_server, world.parent.email)
    assert len(await attendance_inbox(client, login_as(world.parent))) == 1


async def test_two_identical_registers_at_once_tell_the_parent_once(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    teacher = login_as(world.teacher)
    responses = await asyncio.gather(
        *(mark(client, teacher, world, [absent(world.student)]) for _ in range(3))
    )
    assert [r.status_code for r in responses] == [200, 200, 200]
    only_message_to(smtp_server, world.parent.email)
    assert len(await attendance_inbox(client, login_as(world.parent))) == 1
    record = await client.get(
        f"/students/{world.student.id}/attendance", headers=login_as(world.parent)
    )
    assert record.json()["totals"] == {"absent": 1, "late": 0, "excused": 0}


async def test_a_correction_to_present_tells_those_told_once_and_never_a_second_absence(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    smtp_server: CountingSmtpServer,
) -> None:
    teacher = login_as(world.teacher)
    await mark(client, teacher, world, [absent(world.student)])
    # Linked after the absence was told: not one of those to correct.
    later = await linked(world, await make_user(Role.parent))

    taken_back = await mark(client, teacher, world, [])
    assert taken_back.json()["marks"] == [] and taken_back.json()["changed"] == 1

    messages = received_by(smtp_server, world.parent.email)
    assert len(messages) == 2
    today = format_date(dt.date.fromisoformat(school_day(world)), "en")
    assert (
        messages[1]["Subject"] == f"Correction: {world.student.full_name} was not absent, {today}"
    )
    assert "Please disregard our earlier message." in text_of(messages[1])
    assert received_by(smtp_server, later.email) == []

    # Absent again, then present again: no second absence notice, no second correction.
    await mark(client, teacher, world, [absent(world.student)])
    await mark(client, teacher, world, [])
    assert len(received_by(smtp_server, world.parent.email)) == 2
    titles = [n["title"] for n in await attendance_inbox(client, login_as(world.parent))]
    assert len(titles) == 2 and titles[0].startswith("Correction: ")


async def test_a_correction_to_late_says_late(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    teacher = login_as(world.teacher)
    await mark(client, teacher, world, [absent(world.student)], period=1)
    await mark(
        client, teacher, world, [{"student_id": str(world.student.id), "status": "late"}], period=1
    )
    messages = received_by(smtp_server, world.parent.email)
    assert len(messages) == 2
    assert "was late, not absent" in messages[1]["Subject"]


async def test_late_and_excused_tell_nobody(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    response = await mark(
        client,
        login_as(world.teacher),
        world,
        [{"student_id": str(world.student.id), "status": "late", "note": "bus"}],
    )
    assert response.status_code == 200
    assert smtp_server.envelopes == []


async def test_quiet_hours_hold_the_absence_email_but_not_the_inbox(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    smtp_server: CountingSmtpServer,
) -> None:
    zone = ZoneInfo("Europe/Moscow")
    now = dt.datetime.now(zone)
    start = (now - dt.timedelta(hours=1)).strftime("%H:%M")
    end = (now + dt.timedelta(hours=1)).strftime("%H:%M")
    sleeper = await linked(
        world,
        await make_user(
            Role.parent,
            timezone=zone.key,
            preferences=Preferences(quiet_hours=QuietHours(start=start, end=end)),
        ),
    )
    await mark(client, login_as(world.teacher), world, [absent(world.student)])

    assert received_by(smtp_server, sleeper.email) == []
    assert len(await attendance_inbox(client, login_as(sleeper))) == 1
    only_message_to(smtp_server, world.parent.email)


async def test_the_schools_admin_may_keep_the_register(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    response = await mark(client, login_as(world.admin), world, [absent(world.student)])
    assert response.status_code == 200


async def test_a_teacher_of_another_subject_in_the_class_may_keep_it(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    russian = await make_user(Role.teacher, school_ids=[world.school.id])
    await assign_teacher(world, russian, ["russian"])
    response = await mark(client, login_as(russian), world, [absent(world.student)])
    assert response.status_code == 200


async def test_who_may_not_keep_the_register(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    other_class = await add_class(world, "6B")
    elsewhere_teacher = await make_user(Role.teacher, school_ids=[world.school.id])
    await assign_teacher(world, elsewhere_teacher, ["math"], other_class.id)
    for user in (
        world.student,
        world.parent,
        elsewhere_teacher,
        await other_school_admin(make_user),
    ):
        response = await mark(client, login_as(user), world, [absent(world.student)])
        assert response.status_code == 403, user.role
    anonymous = await mark(client, {}, world, [])
    assert anonymous.status_code == 401


async def test_unknown_school_or_class_is_404(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    day = school_day(world)
    unknown = "6571f0b2c8a1d2e3f4a5b6c7"
    for path in (
        f"/schools/{unknown}/classes/{world.class_5a.id}/attendance/{day}",
        f"/schools/{world.school.id}/classes/{unknown}/attendance/{day}",
    ):
        response = await client.put(path, json={"marks": []}, headers=login_as(world.admin))
        assert response.status_code == 404, path


async def test_a_student_not_in_the_class_is_422_naming_them(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    smtp_server: CountingSmtpServer,
) -> None:
    stranger = await make_user(Role.student, school_ids=[world.school.id], full_name="Vasya Pupkin")
    response = await mark(
        client, login_as(world.teacher), world, [absent(world.student), absent(stranger)]
    )
    assert response.status_code == 422
    assert response.json()["detail"] == f"not in class 5A: {stranger.id} (Vasya Pupkin)"
    # Nothing of the refused register was kept or told.
    assert smtp_server.envelopes == []
    record = await client.get(
        f"/students/{world.student.id}/attendance", headers=login_as(world.admin)
    )
    assert record.json()["items"] == []


def bad_registers(student: str) -> dict[str, dict[str, Any]]:
    """Bodies a register refuses, by what the refusal names."""
    return {
        "status": {"marks": [{"student_id": student, "status": "asleep"}]},
        "listed twice": {"marks": [{"student_id": student, "status": "absent"}] * 2},
        "period": {"marks": [], "period": 0},
        "control or text-direction": {
            "marks": [{"student_id": student, "status": "absent", "note": "a\u202eb"}]
        },
        "marks": {},
    }


@pytest.mark.parametrize("says", list(bad_registers("x")))
async def test_a_bad_register_is_422_saying_what_is_wrong(
    client: httpx.AsyncClient, world: World, login_as: Login, says: str
) -> None:
    body = bad_registers(str(world.student.id))[says]
    response = await client.put(
        register_path(world, school_day(world)), json=body, headers=login_as(world.teacher)
    )
    assert response.status_code == 422
    assert says in response.text


async def test_a_day_to_come_or_not_a_date_is_422(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    teacher = login_as(world.teacher)
    future = await mark(client, teacher, world, [], day=school_day(world, 1))
    assert future.status_code == 422 and "is in the future" in future.json()["detail"]
    garbage = await client.put(
        register_path(world, "2026-13-45"), json={"marks": []}, headers=teacher
    )
    assert garbage.status_code == 422
