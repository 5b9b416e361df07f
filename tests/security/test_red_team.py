"""A red-team pass over the issue 18 fixes: holes found after they landed, each replayed
over HTTP (the test failed before its fix)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx

from app.announcements import service as announcements
from app.auth.models import Role, User
from app.core.config import Settings
from app.core.security import utcnow
from tests.auth.conftest import mailed_token
from tests.conftest import DEFAULT_PASSWORD, UserFactory, World
from tests.pages import english_words
from tests.security.mail import emails_to
from tests.security.test_moved_students import South, roster_url, south  # noqa: F401

LoginAs = Callable[[User], dict[str, str]]


async def test_a_guardian_code_mailed_to_a_look_alike_address_reaches_the_account(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    """The admin types the parent's address in full-width letters: the code goes to the
    parent's one real mailbox, not to a second spelling of it."""
    full_width = "".join(
        chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in world.parent.email.split("@")[0]
    )
    answer = await client.post(
        f"/students/{world.student.id}/guardian-codes",
        json={"email": f"{full_width}@example.org"},
        headers=login_as(world.admin),
    )

    assert answer.status_code == 201, answer.text
    mailed = await emails_to(world.parent.email)
    assert [email.recipient_id for email in mailed] == [world.parent.id]


async def test_a_student_whose_class_is_deleted_leaves_the_school(
    client: httpx.AsyncClient,
    world: World,
    south: South,  # noqa: F811 (the fixture imported above)
    login_as: LoginAs,
) -> None:
    """Deleting a class takes its students off a roster like removing them one by one: off
    the school's last roster they leave it, so the next school may enrol them and the old
    one no longer lists them (nor, through them, their parents)."""
    as_north = login_as(world.admin)
    deleted = await client.delete(
        f"/schools/{world.school.id}/classes/{world.class_5a.id}", headers=as_north
    )
    assert deleted.status_code == 204, deleted.text

    enrolled = await client.put(
        roster_url(south.school, south.class_s1, world.student), headers=login_as(south.admin)
    )
    listed = await client.get("/users", headers=as_north)

    assert enrolled.status_code == 204, enrolled.text
    listed_ids = {user["id"] for user in listed.json()["items"]}
    assert str(world.student.id) not in listed_ids
    assert str(world.parent.id) not in listed_ids


async def test_the_confirm_page_of_an_address_taken_meanwhile_says_so_in_the_readers_language(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    settings: Settings,
    make_user: UserFactory,
) -> None:
    """The button on the emailed page, not only the API: the address became another
    account's meanwhile, so the page refuses, as a page, in Russian for a Russian reader."""
    await client.patch("/users/me", headers=login_as(world.parent), json={"locale": "ru"})
    asked = await client.patch(
        "/users/me",
        headers=login_as(world.parent),
        json={"email": "moved.parent@example.net", "current_password": DEFAULT_PASSWORD},
    )
    assert asked.status_code == 200, asked.text
    confirm = mailed_token(settings, to="moved.parent@example.net", path="verify-email")
    await make_user("parent", email="moved.parent@example.net")

    page = await site.post(
        "/verify-email", data={"token": confirm}, headers={"Accept-Language": "ru"}
    )

    assert 400 <= page.status_code < 500
    assert page.headers["content-type"].startswith("text/html"), page.text
    assert not english_words(page.text)
    stored = await User.get(world.parent.id)
    assert stored is not None and stored.email == world.parent.email


async def test_an_admin_finds_a_user_by_a_look_alike_spelling_of_their_address(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    """Addresses are stored folded, so the search folds what is typed the same way: a
    full-width spelling finds the one account it would sign in as."""
    local = world.teacher.email.split("@")[0]
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in local.upper())

    found = await client.get("/users", params={"q": full_width}, headers=login_as(world.admin))

    assert found.status_code == 200, found.text
    assert [user["id"] for user in found.json()["items"]] == [str(world.teacher.id)]


async def test_a_guardian_code_is_not_mailed_to_an_address_written_with_look_alike_letters(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    """An address with a Cyrillic а reads as the parent's but is another mailbox, whose
    holder could redeem the code: it is refused as a new account's address is."""
    look_alike = "p\u0430rent@example.org"

    answer = await client.post(
        f"/students/{world.student.id}/guardian-codes",
        json={"email": look_alike},
        headers=login_as(world.admin),
    )

    assert answer.status_code == 422, answer.text
    assert "email" in answer.text
    assert await emails_to(look_alike) == []


async def test_a_teacher_taken_off_the_class_sends_nothing_she_had_scheduled_for_it(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    """A scheduled announcement speaks for its author when it goes out: taken off the class
    meanwhile, she no longer reaches its students and parents in her name."""
    publish_at = utcnow() + timedelta(days=1)
    scheduled = await client.post(
        "/announcements",
        headers=login_as(world.teacher),
        json={
            "school_id": str(world.school.id),
            "title": "Extra lesson",
            "body": "Come to room 12",
            "class_ids": [str(world.class_5a.id)],
            "publish_at": publish_at.isoformat(),
        },
    )
    assert scheduled.status_code == 202, scheduled.text
    removed = await client.delete(
        f"/schools/{world.school.id}/classes/{world.class_5a.id}/teachers/{world.teacher.id}",
        headers=login_as(world.admin),
    )
    assert removed.status_code == 204, removed.text

    await announcements.publish_due(now=publish_at + timedelta(minutes=1))

    inbox = await client.get("/notifications", headers=login_as(world.student))
    assert inbox.json()["items"] == []
    by_admin = await client.get(
        f"/announcements/{scheduled.json()['id']}", headers=login_as(world.admin)
    )
    assert by_admin.json()["status"] == "cancelled"


async def test_a_demoted_admin_sends_nothing_she_had_scheduled_for_the_school(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, make_user: UserFactory
) -> None:
    co_admin = await make_user(Role.admin, school_ids=[world.school.id])
    publish_at = utcnow() + timedelta(days=1)
    scheduled = await client.post(
        "/announcements",
        headers=login_as(co_admin),
        json={
            "school_id": str(world.school.id),
            "title": "School closed",
            "body": "Tomorrow",
            "priority": "critical",
            "publish_at": publish_at.isoformat(),
        },
    )
    assert scheduled.status_code == 202, scheduled.text
    demoted = await client.patch(
        f"/users/{co_admin.id}", headers=login_as(world.admin), json={"role": "teacher"}
    )
    assert demoted.status_code == 200, demoted.text

    await announcements.publish_due(now=publish_at + timedelta(minutes=1))

    inbox = await client.get("/notifications", headers=login_as(world.parent))
    assert inbox.json()["items"] == []
    assert await emails_to(world.parent.email) == []
