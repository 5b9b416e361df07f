"""Parents who linked their child before homework existed: their subscription lists the
topics there were then. Linking a child is following it, so after the upgrade homework
reaches them as it reaches a parent who links today (a daily digest by default); the
upgrade runs once, so a parent who leaves homework out afterwards stays out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from app.auth.models import Role, User
from app.core.migrations import MigrationRecord
from app.migrations import migrate
from app.notifications.models import Subscription, TargetType
from app.schools.models import GuardianLink
from tests.conftest import World
from tests.homework.helpers import homework_set

Login = Callable[[User], dict[str, str]]

# What a parent's subscription to their child followed before the school day's topics.
TOPICS_BEFORE = ["grades", "announcements"]


async def homework_inbox(client: httpx.AsyncClient, headers: dict[str, str]) -> list[Any]:
    response = await client.get("/notifications", params={"topic": "homework"}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def linked_before_homework(world: World) -> None:
    """world.parent linked to world.student by a version that knew no homework, and the
    database not yet upgraded."""
    assert world.parent.id is not None and world.student.id is not None
    await Subscription(
        subscriber_id=world.parent.id,
        subscriber_role=Role.parent,
        target_type=TargetType.student,
        target_id=world.student.id,
        school_id=world.school.id,
        topics=TOPICS_BEFORE,
    ).insert()
    record = await MigrationRecord.get("guardians-follow-homework")
    assert record is not None  # this app's start ran it, on no subscriptions
    await record.delete()


async def test_without_the_upgrade_they_would_hear_nothing(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    await linked_before_homework(world)
    await homework_set(client, login_as(world.teacher), world)
    assert await homework_inbox(client, login_as(world.parent)) == []


async def test_after_the_upgrade_homework_reaches_them(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    await linked_before_homework(world)
    await migrate()

    await homework_set(client, login_as(world.teacher), world)

    [notice] = await homework_inbox(client, login_as(world.parent))
    assert notice["title"].startswith("5A, math: homework for ")
    listed = await client.get("/subscriptions", headers=login_as(world.parent))
    [subscription] = listed.json()["items"]
    assert sorted(subscription["topics"]) == sorted([*TOPICS_BEFORE, "homework"])


async def test_a_parent_who_leaves_homework_out_afterwards_stays_out(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    await linked_before_homework(world)
    await migrate()
    parent = login_as(world.parent)
    [subscription] = (await client.get("/subscriptions", headers=parent)).json()["items"]
    assert (
        await client.delete(f"/subscriptions/{subscription['id']}", headers=parent)
    ).status_code == 204
    chosen = await client.post(
        "/subscriptions",
        json={"target_type": "student", "target_id": str(world.student.id), "topics": ["grades"]},
        headers=parent,
    )
    assert chosen.status_code == 201, chosen.text
    assert await GuardianLink.find_one({"parent_id": world.parent.id}) is not None

    await migrate()  # the next start: the upgrade ran already
    await homework_set(client, login_as(world.teacher), world)

    assert await homework_inbox(client, parent) == []
