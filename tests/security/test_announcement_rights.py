"""Announcement rights follow current relations (issue 18, findings 6 and 9).

An author reads an announcement's recipients and emails, and cancels it, only while still
its school's admin or still teaching one of its classes; teachers see counts, never
parents' addresses. `critical` overrides every opt-out, so only school admins may send it,
and its email offers no unsubscribe that could not stop it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx

from app.auth.models import Role, User
from app.core.security import utcnow
from tests.conftest import UserFactory, World
from tests.delivery.conftest import CountingSmtpServer, settings, smtp_server  # noqa: F401
from tests.delivery.helpers import html_of, only_message_to, text_of

LoginAs = Callable[[User], dict[str, str]]


async def announce(
    client: httpx.AsyncClient, world: World, author: User, login_as: LoginAs, **fields: Any
) -> httpx.Response:
    body = {"school_id": str(world.school.id), "title": "Trip", "body": "Friday", **fields}
    return await client.post("/announcements", json=body, headers=login_as(author))


async def posted(
    client: httpx.AsyncClient, world: World, author: User, login_as: LoginAs, **fields: Any
) -> str:
    response = await announce(client, world, author, login_as, **fields)
    assert response.status_code == 202, response.text
    announcement_id: str = response.json()["id"]
    return announcement_id


async def follow_5a(client: httpx.AsyncClient, world: World, login_as: LoginAs) -> None:
    followed = await client.post(
        "/subscriptions",
        headers=login_as(world.parent),
        json={"target_type": "class", "target_id": str(world.class_5a.id)},
    )
    assert followed.status_code == 201, followed.text


def later() -> str:
    return (utcnow() + timedelta(days=1)).isoformat()


# --- 6. a co-admin demoted to teacher keeps reading addresses and cancelling ---------------


async def test_a_demoted_co_admin_loses_the_emails_the_figures_and_the_cancel(
    client: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    make_user: UserFactory,
    smtp_server: CountingSmtpServer,  # noqa: F811
) -> None:
    co_admin = await make_user(Role.admin, school_ids=[world.school.id])
    sent = await posted(client, world, co_admin, login_as)
    scheduled = await posted(client, world, co_admin, login_as, publish_at=later())
    as_co_admin = login_as(co_admin)
    before = await client.get(f"/announcements/{sent}/emails", headers=as_co_admin)
    assert before.status_code == 200 and before.json()["items"]

    demoted = await client.patch(
        f"/users/{co_admin.id}", headers=login_as(world.admin), json={"role": "teacher"}
    )
    assert demoted.status_code == 200, demoted.text

    emails = await client.get(f"/announcements/{sent}/emails", headers=as_co_admin)
    figures = await client.get(f"/announcements/{sent}", headers=as_co_admin)
    cancelled = await client.delete(f"/announcements/{scheduled}", headers=as_co_admin)
    assert (emails.status_code, figures.status_code, cancelled.status_code) == (403, 403, 403)
    assert world.student.email not in emails.text
    # The school's admin still manages both.
    as_admin = login_as(world.admin)
    assert (await client.get(f"/announcements/{sent}/emails", headers=as_admin)).status_code == 200
    assert (await client.delete(f"/announcements/{scheduled}", headers=as_admin)).status_code == 204


# --- 6. teachers see counts, not parents' addresses; none once off the class ---------------


async def test_a_teacher_sees_the_figures_of_her_announcement_but_no_addresses(
    client: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    smtp_server: CountingSmtpServer,  # noqa: F811
) -> None:
    await follow_5a(client, world, login_as)
    announcement = await posted(
        client, world, world.teacher, login_as, class_ids=[str(world.class_5a.id)]
    )
    as_teacher = login_as(world.teacher)

    figures = await client.get(f"/announcements/{announcement}", headers=as_teacher)
    emails = await client.get(f"/announcements/{announcement}/emails", headers=as_teacher)

    assert figures.status_code == 200
    assert figures.json()["stats"]["recipients"] == 2  # the student and the following parent
    assert emails.status_code == 403
    assert world.parent.email not in emails.text
    by_admin = await client.get(
        f"/announcements/{announcement}/emails", headers=login_as(world.admin)
    )
    assert world.parent.email in {e["to"] for e in by_admin.json()["items"]}


async def test_a_teacher_taken_off_the_class_loses_her_announcement(
    client: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    smtp_server: CountingSmtpServer,  # noqa: F811
) -> None:
    await follow_5a(client, world, login_as)
    class_ids = [str(world.class_5a.id)]
    sent = await posted(client, world, world.teacher, login_as, class_ids=class_ids)
    scheduled = await posted(
        client, world, world.teacher, login_as, class_ids=class_ids, publish_at=later()
    )
    removed = await client.delete(
        f"/schools/{world.school.id}/classes/{world.class_5a.id}/teachers/{world.teacher.id}",
        headers=login_as(world.admin),
    )
    assert removed.status_code == 204
    as_teacher = login_as(world.teacher)

    figures = await client.get(f"/announcements/{sent}", headers=as_teacher)
    emails = await client.get(f"/announcements/{sent}/emails", headers=as_teacher)
    cancelled = await client.delete(f"/announcements/{scheduled}", headers=as_teacher)

    assert (figures.status_code, emails.status_code, cancelled.status_code) == (403, 403, 403)
    assert world.parent.email not in emails.text


# --- 9. teachers override every opt-out -----------------------------------------------------


async def test_a_teacher_may_not_post_a_critical_announcement(
    client: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    smtp_server: CountingSmtpServer,  # noqa: F811
) -> None:
    response = await announce(
        client,
        world,
        world.teacher,
        login_as,
        class_ids=[str(world.class_5a.id)],
        priority="critical",
    )

    assert response.status_code == 403
    assert "admin" in response.json()["detail"]
    assert smtp_server.messages == []
    # High is hers to use.
    high = await announce(
        client, world, world.teacher, login_as, class_ids=[str(world.class_5a.id)], priority="high"
    )
    assert high.status_code == 202


async def test_a_critical_email_offers_no_unsubscribe_that_cannot_stop_it(
    client: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    smtp_server: CountingSmtpServer,  # noqa: F811
) -> None:
    await posted(client, world, world.admin, login_as, title="Closed", priority="critical")
    await posted(client, world, world.admin, login_as, title="Open day", priority="high")

    critical, normal = sorted(
        (m for m in smtp_server.messages if world.student.email in str(m["To"])),
        key=lambda m: "Open day" in str(m["Subject"]),
    )
    assert "Closed" in str(critical["Subject"])
    assert critical["List-Unsubscribe"] is None
    assert critical["List-Unsubscribe-Post"] is None
    assert "/unsubscribe?" not in text_of(critical) and "/unsubscribe?" not in html_of(critical)
    # The preference centre is still offered; other announcements keep their one-click link.
    assert "/preferences?" in text_of(critical)
    assert normal["List-Unsubscribe"] is not None
    # The parent follows nothing: critical reached them all the same, with no way out either.
    to_parent = only_message_to(smtp_server, world.parent.email)
    assert "Closed" in str(to_parent["Subject"]) and to_parent["List-Unsubscribe"] is None
