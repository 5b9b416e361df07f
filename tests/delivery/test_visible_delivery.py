"""What an admin sees of delivery: failed and dead emails of their schools with the error
and the attempts, requeued one by one or all at once; an announcement's emails by status.
Only their own schools': another school's admin gets 404."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from app.auth.models import Role, User
from app.delivery.models import EmailStatus
from app.schools.models import School
from tests.conftest import UserFactory, World
from tests.delivery.conftest import CountingSmtpServer
from tests.delivery.helpers import only_message_to, received_by
from tests.delivery.test_announcement_emails import announce
from tests.grades.helpers import posted

Login = Callable[[User], dict[str, str]]


async def troubled(
    client: httpx.AsyncClient, admin: User, login_as: Login, **params: Any
) -> list[dict[str, Any]]:
    response = await client.get("/emails", params=params, headers=login_as(admin))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_refused_recipient_is_dead_with_the_reason_and_can_be_sent_again(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    smtp_server.refuse.add(world.student.email)
    await posted(client, login_as(world.teacher), world)

    (dead,) = await troubled(client, world.admin, login_as)
    assert dead["status"] == "dead"
    assert dead["to"] == world.student.email
    assert dead["attempts"] == 1
    assert "550" in dead["last_error"] and "No such user" in dead["last_error"]
    assert dead["next_attempt_at"] is None
    assert received_by(smtp_server, world.student.email) == []

    # The address is fixed on the server's side; the admin sends it again.
    smtp_server.refuse.clear()
    response = await client.post(f"/emails/{dead['id']}/retry", headers=login_as(world.admin))
    assert response.status_code == 202, response.text
    only_message_to(smtp_server, world.student.email)
    assert await troubled(client, world.admin, login_as) == []
    (sent,) = await troubled(client, world.admin, login_as, status="sent")
    assert sent["id"] == dead["id"] and sent["last_error"] is None

    # Sent is sent: no second copy.
    again = await client.post(f"/emails/{dead['id']}/retry", headers=login_as(world.admin))
    assert again.status_code == 409
    assert "failed or dead" in again.json()["detail"]
    only_message_to(smtp_server, world.student.email)


async def test_a_deferred_recipient_is_failed_with_its_next_try(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    smtp_server.defer.add(world.student.email)
    await posted(client, login_as(world.teacher), world)

    (failed,) = await troubled(client, world.admin, login_as, status="failed")
    assert failed["attempts"] == 1
    assert "451" in failed["last_error"]
    assert failed["next_attempt_at"] is not None
    assert await troubled(client, world.admin, login_as, status="dead") == []


async def test_retry_all_sends_every_failed_and_dead_email_once(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    smtp_server.refuse.add(world.student.email)
    smtp_server.defer.add(world.teacher.email)
    await announce(client, world, login_as, priority="critical")
    statuses = {e["to"]: e["status"] for e in await troubled(client, world.admin, login_as)}
    assert statuses == {world.student.email: "dead", world.teacher.email: "failed"}

    smtp_server.refuse.clear()
    smtp_server.defer.clear()
    response = await client.post("/emails/retry", headers=login_as(world.admin))
    assert response.status_code == 202, response.text
    assert response.json() == {"requeued": 2}
    only_message_to(smtp_server, world.student.email)
    only_message_to(smtp_server, world.teacher.email)
    assert await troubled(client, world.admin, login_as) == []

    again = await client.post("/emails/retry", headers=login_as(world.admin))
    assert again.json() == {"requeued": 0}


async def test_an_announcements_emails_by_status(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    smtp_server.refuse.add(world.student.email)
    announcement = await announce(client, world, login_as, priority="critical")
    url = f"/announcements/{announcement['id']}/emails"

    response = await client.get(url, params={"status": "dead"}, headers=login_as(world.admin))
    assert response.status_code == 200, response.text
    assert [e["to"] for e in response.json()["items"]] == [world.student.email]
    every = await client.get(url, headers=login_as(world.admin))
    assert {e["status"] for e in every.json()["items"]} == {"dead", "sent"}
    assert all(e["announcement_id"] == announcement["id"] for e in every.json()["items"])

    # Members it was addressed to do not manage it.
    forbidden = await client.get(url, headers=login_as(world.student))
    assert forbidden.status_code == 403
    bad = await client.get(url, params={"status": "lost"}, headers=login_as(world.admin))
    assert bad.status_code == 422


async def test_another_schools_admin_neither_sees_nor_requeues_these_emails(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    smtp_server: CountingSmtpServer,
    make_user: UserFactory,
) -> None:
    other = School(name="School B")
    await other.insert()
    assert other.id is not None
    other_admin = await make_user(Role.admin, school_ids=[other.id])
    smtp_server.refuse.add(world.student.email)
    await posted(client, login_as(world.teacher), world)
    (dead,) = await troubled(client, world.admin, login_as)
    smtp_server.refuse.clear()

    assert await troubled(client, other_admin, login_as) == []
    assert await troubled(client, other_admin, login_as, status=list(EmailStatus)) == []
    as_other = login_as(other_admin)
    one = await client.post(f"/emails/{dead['id']}/retry", headers=as_other)
    assert one.status_code == 404
    listed = await client.get(
        "/emails", params={"school_id": str(world.school.id)}, headers=as_other
    )
    assert listed.status_code == 404
    every = await client.post(
        "/emails/retry", params={"school_id": str(world.school.id)}, headers=as_other
    )
    assert every.status_code == 404
    assert (await client.post("/emails/retry", headers=as_other)).json() == {"requeued": 0}
    # Nothing was sent on their say.
    assert received_by(smtp_server, world.student.email) == []
    assert (await troubled(client, world.admin, login_as))[0]["status"] == "dead"

    # Not an admin at all: 403; not an email id: 404.
    teacher = await client.get("/emails", headers=login_as(world.teacher))
    assert teacher.status_code == 403
    malformed = await client.post("/emails/not-an-id/retry", headers=login_as(world.admin))
    assert malformed.status_code == 404
