"""Immediate grade emails, as the student and a subscribed parent receive them over SMTP."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from beanie import PydanticObjectId

from app.auth.models import Role, User
from app.delivery.models import Email, EmailStatus
from app.grades import notices as events
from app.grades.models import Grade
from app.schools.guardians import link_guardian
from app.schools.models import School
from tests.conftest import UserFactory, World
from tests.delivery.conftest import CountingSmtpServer
from tests.delivery.helpers import html_of, only_message_to, received_by, text_of, unsubscribe_link
from tests.grades.helpers import posted

Login = Callable[[User], dict[str, str]]


async def follow(world: World, parent: User | None = None) -> User:
    parent = parent or world.parent
    assert parent.id is not None and world.student.id is not None
    await link_guardian(parent_id=parent.id, student_id=world.student.id)
    return parent


async def test_a_grade_emails_the_student_and_the_subscribed_parent_once_each(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    parent = await follow(world)

    await posted(client, login_as(world.teacher), world, value=4, comment="Good work on fractions")

    assert len(smtp_server.envelopes) == 2
    assert received_by(smtp_server, world.teacher.email) == []
    for user in (world.student, parent):
        message = only_message_to(smtp_server, user.email)
        assert message["To"] == user.email
        assert message["From"] == "Schoolbell <no-reply@schoolbell.local>"
        assert message["Message-ID"]
        subject = str(message["Subject"])
        assert world.student.full_name in subject and "math" in subject
        assert subject.startswith("New grade")
        text, html = text_of(message), html_of(message)
        for expected in (world.student.full_name, "Subject: math", "Grade: 4", "Good work"):
            assert expected in text
        assert f"Teacher: {world.teacher.full_name}" in text
        assert world.student.full_name in html and world.teacher.full_name in html
        assert "<strong>4</strong>" in html
        link = unsubscribe_link(message)
        assert link in text
        assert f'href="{link}"' in html


async def test_each_recipient_gets_a_link_of_their_own(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    parent = await follow(world)

    await posted(client, login_as(world.teacher), world)

    links = {
        unsubscribe_link(only_message_to(smtp_server, user.email))
        for user in (world.student, parent)
    }
    assert len(links) == 2


async def test_one_email_per_grade_and_a_changed_email_for_a_correction(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    teacher = login_as(world.teacher)
    first = await posted(client, teacher, world, value=3)
    await posted(client, teacher, world, value=5)
    assert len(received_by(smtp_server, world.student.email)) == 2

    response = await client.patch(f"/grades/{first['id']}", json={"value": 4}, headers=teacher)
    assert response.status_code == 200, response.text

    messages = received_by(smtp_server, world.student.email)
    assert len(messages) == 3
    changed = messages[-1]
    assert str(changed["Subject"]).startswith("Grade changed in math")
    assert "A grade was changed" in text_of(changed)
    assert "Grade: 4" in text_of(changed)


async def test_running_the_same_grade_event_again_sends_nothing_more(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    await follow(world)
    grade = await posted(client, login_as(world.teacher), world)
    stored = await Grade.get(PydanticObjectId(grade["id"]))
    assert stored is not None

    # A worker that re-runs the job (a redelivered Celery message) must not double the mail.
    await events.notify_grade(grade_id=grade["id"], event_key=events.grade_event_key(stored))

    assert len(smtp_server.envelopes) == 2
    assert await Email.find({"status": EmailStatus.sent}).count() == 2


async def test_a_parent_without_grade_values_gets_no_value_anywhere(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    smtp_server: CountingSmtpServer,
) -> None:
    # A value that cannot be mistaken for any other number in the email.
    await School.get_motor_collection().update_one(
        {"_id": world.school.id}, {"$set": {"grade_scale": {"min": 1, "max": 100}}}
    )
    parent = await follow(world)
    response = await client.patch(
        "/users/me/preferences", json={"include_grade_values": False}, headers=login_as(parent)
    )
    assert response.status_code == 200, response.text

    await posted(client, login_as(world.teacher), world, value=87, comment="Top of the class")

    message = only_message_to(smtp_server, parent.email)
    unsubscribe_link(message)  # the RFC 8058 headers are there
    subject, text, html = str(message["Subject"]), text_of(message), html_of(message)
    assert "87" not in subject
    # Links carry signed tokens whose letters may spell anything: read around them.
    assert "87" not in re.sub(r"https?://[^\s\"<]+", "", text)
    assert "87" not in re.sub(r"https?://[^\s\"<]+", "", html)
    # A comment often states the value in words, so it goes too.
    assert "Top of the class" not in text and "Top of the class" not in html
    # Still says which child and subject, and where to look.
    assert world.student.full_name in subject and "math" in subject
    assert "open Schoolbell to see the grade" in text
    # The student's own email keeps the value.
    own = text_of(only_message_to(smtp_server, world.student.email))
    assert "Grade: 87" in own and "Comment: Top of the class" in own


async def test_a_russian_speaking_parent_gets_the_russian_template(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    smtp_server: CountingSmtpServer,
) -> None:
    parent = await make_user(Role.parent, locale="ru", full_name="Мария Иванова")
    await follow(world, parent)

    await posted(client, login_as(world.teacher), world, value=5)

    message = only_message_to(smtp_server, parent.email)
    subject = str(message["Subject"])
    assert subject.startswith("Новая оценка по предмету «math»")
    assert world.student.full_name in subject
    text = text_of(message)
    assert f"Новая оценка: {world.student.full_name}." in text
    assert "Предмет: math" in text and "Оценка: 5 (текущая)" in text
    assert "Дата: " in text and "Grade" not in text and "regular" not in text
    assert f"Учитель: {world.teacher.full_name}" in text
    assert unsubscribe_link(message) in text
    assert "Предмет" in html_of(message)
    # The English-speaking student still gets English.
    assert "New grade" in str(only_message_to(smtp_server, world.student.email)["Subject"])


async def test_each_reader_gets_the_subject_named_in_their_language(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    smtp_server: CountingSmtpServer,
) -> None:
    renamed = await client.put(
        f"/schools/{world.school.id}/subjects",
        json={"subjects": [{"code": "math", "names": {"ru": "Математика", "en": "Mathematics"}}]},
        headers=login_as(world.admin),
    )
    assert renamed.status_code == 200, renamed.text
    parent = await make_user(Role.parent, locale="ru", full_name="Мария Иванова")
    await follow(world, parent)

    await posted(client, login_as(world.teacher), world, value=5)

    message = only_message_to(smtp_server, parent.email)
    assert str(message["Subject"]).startswith("Новая оценка по предмету «Математика»")
    assert "Предмет: Математика" in text_of(message)
    assert "<td>Математика</td>" in html_of(message)
    student_mail = only_message_to(smtp_server, world.student.email)
    assert str(student_mail["Subject"]).startswith("New grade in Mathematics")
    assert "Subject: Mathematics" in text_of(student_mail)
    inbox = await client.get("/notifications", headers=login_as(parent))
    [item] = inbox.json()["items"]
    assert "Математика" in item["title"] + item["body"] and "math" not in item["title"]
    assert item["data"]["subject"] == "math"
    assert item["data"]["subject_names"] == {"ru": "Математика", "en": "Mathematics"}


async def test_a_parent_linked_with_a_guardian_code_is_emailed(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    smtp_server: CountingSmtpServer,
) -> None:
    parent = await make_user(Role.parent)
    issued = await client.post(
        f"/students/{world.student.id}/guardian-codes", headers=login_as(world.admin)
    )
    assert issued.status_code == 201, issued.text
    linked = await client.post(
        "/users/me/children", json={"code": issued.json()["code"]}, headers=login_as(parent)
    )
    assert linked.status_code == 201, linked.text

    await posted(client, login_as(world.teacher), world)

    assert world.student.full_name in str(only_message_to(smtp_server, parent.email)["Subject"])
    # The world's parent is linked but never subscribed: linking alone is not following.
    assert received_by(smtp_server, world.parent.email) == []


async def test_a_parent_who_chose_a_digest_or_off_gets_no_immediate_email(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    smtp_server: CountingSmtpServer,
) -> None:
    daily = await follow(world)
    off = await follow(world, await make_user(Role.parent))
    for parent, frequency in ((daily, "daily"), (off, "off")):
        response = await client.patch(
            "/users/me/preferences",
            json={"email": {"grades": frequency}},
            headers=login_as(parent),
        )
        assert response.status_code == 200, response.text

    await posted(client, login_as(world.teacher), world)

    assert received_by(smtp_server, daily.email) == []
    assert received_by(smtp_server, off.email) == []
    assert len(received_by(smtp_server, world.student.email)) == 1
    for parent in (daily, off):
        inbox = await client.get("/notifications", headers=login_as(parent))
        assert [n["topic"] for n in inbox.json()["items"]] == ["grades"]
