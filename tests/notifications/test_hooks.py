"""The other domains' hooks into notifications: grade writes notify, guardian links subscribe."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from app.auth.models import Role, User
from app.notifications import service
from app.notifications.models import Subscription
from tests.conftest import UserFactory, World

Login = Callable[[User], dict[str, str]]


async def _post_grade(
    client: httpx.AsyncClient, world: World, login_as: Login, **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "student_id": str(world.student.id),
        "class_id": str(world.class_5a.id),
        "subject": "math",
        "value": 5,
    }
    body.update(fields)
    response = await client.post("/grades", json=body, headers=login_as(world.teacher))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _grade_items(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/notifications", params={"topic": "grades"}, headers=headers)
    assert response.status_code == 200
    return list(response.json()["items"])


async def _followed_students(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    response = await client.get("/subscriptions", headers=headers)
    assert response.status_code == 200
    return [s["target_id"] for s in response.json()["items"] if s["target_type"] == "student"]


async def test_posting_a_grade_notifies_the_student_and_following_parents(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    assert world.parent.id and world.student.id
    await service.subscribe_guardian(parent_id=world.parent.id, student_id=world.student.id)
    stranger = await make_user(Role.parent)
    grade = await _post_grade(client, world, login_as, comment="neat")

    for who in (world.student, world.parent):
        (item,) = await _grade_items(client, login_as(who))
        assert item["data"]["grade_id"] == grade["id"]
        assert item["data"]["value"] == 5
    assert await _grade_items(client, login_as(world.teacher)) == []
    assert await _grade_items(client, login_as(stranger)) == []


async def test_correcting_a_grade_updates_its_inbox_item(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    grade = await _post_grade(client, world, login_as)
    (before,) = await _grade_items(client, login_as(world.student))
    response = await client.patch(
        f"/grades/{grade['id']}", json={"value": 3}, headers=login_as(world.teacher)
    )
    assert response.status_code == 200, response.text
    # One grade, one item: its email went out (no grace window here), so it says "changed".
    (after,) = await _grade_items(client, login_as(world.student))
    assert after["id"] == before["id"]
    assert after["data"]["changed"] is True
    assert after["data"]["value"] == 3


async def test_redeeming_a_guardian_code_subscribes_and_then_grades_arrive(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    parent = await make_user(Role.parent)
    issued = await client.post(
        f"/students/{world.student.id}/guardian-codes", headers=login_as(world.admin)
    )
    assert issued.status_code == 201, issued.text
    redeemed = await client.post(
        "/users/me/children", json={"code": issued.json()["code"]}, headers=login_as(parent)
    )
    assert redeemed.status_code == 201, redeemed.text
    assert await _followed_students(client, login_as(parent)) == [str(world.student.id)]

    await _post_grade(client, world, login_as)
    assert len(await _grade_items(client, login_as(parent))) == 1


async def test_a_parent_unlinking_stops_following(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    assert world.parent.id and world.student.id
    await service.subscribe_guardian(parent_id=world.parent.id, student_id=world.student.id)
    headers = login_as(world.parent)
    response = await client.delete(f"/users/me/children/{world.student.id}", headers=headers)
    assert response.status_code == 204
    assert await _followed_students(client, headers) == []
    await _post_grade(client, world, login_as)
    assert await _grade_items(client, headers) == []


async def test_an_admin_unlink_unsubscribes(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    assert world.parent.id and world.student.id
    await service.subscribe_guardian(parent_id=world.parent.id, student_id=world.student.id)
    path = f"/students/{world.student.id}/guardians/{world.parent.id}"
    response = await client.delete(path, headers=login_as(world.admin))
    assert response.status_code == 204
    assert await _followed_students(client, login_as(world.parent)) == []
    assert await Subscription.find({"subscriber_id": world.parent.id}).count() == 0
