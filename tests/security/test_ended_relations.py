"""Relations end when they end: an unlinked parent hears nothing more through the child, and
a teacher taken off a class keeps no hold on the grades given there."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from app.auth.models import Role, User
from app.notifications.models import Notification, Subscription, TargetType
from app.schools.models import GuardianLink, School
from tests.conftest import UserFactory, World

LoginAs = Callable[[User], dict[str, str]]


# --- 4. an unlinked parent keeps hearing about the child's class and school ---------------


async def _announce_to_5a(client: httpx.AsyncClient, world: World, login_as: LoginAs) -> None:
    response = await client.post(
        "/announcements",
        headers=login_as(world.admin),
        json={
            "school_id": str(world.school.id),
            "title": "Trip",
            "body": "Friday",
            "class_ids": [str(world.class_5a.id)],
        },
    )
    assert response.status_code == 202, response.text


async def _inbox_titles(client: httpx.AsyncClient, user: User, login_as: LoginAs) -> list[str]:
    response = await client.get("/notifications", headers=login_as(user))
    return [item["title"] for item in response.json()["items"]]


@pytest.mark.parametrize("who_unlinks", ["parent", "admin"])
async def test_unlinking_ends_every_path_from_the_parent_to_the_child(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, who_unlinks: str
) -> None:
    parent_headers = login_as(world.parent)
    for target_type, target_id in (("class", world.class_5a.id), ("school", world.school.id)):
        followed = await client.post(
            "/subscriptions",
            headers=parent_headers,
            json={"target_type": target_type, "target_id": str(target_id)},
        )
        assert followed.status_code == 201, followed.text

    if who_unlinks == "parent":
        unlinked = await client.delete(
            f"/users/me/children/{world.student.id}", headers=parent_headers
        )
    else:
        unlinked = await client.delete(
            f"/students/{world.student.id}/guardians/{world.parent.id}",
            headers=login_as(world.admin),
        )
    assert unlinked.status_code == 204

    left = await client.get("/subscriptions", headers=parent_headers)
    assert left.json()["items"] == []
    await _announce_to_5a(client, world, login_as)
    assert await _inbox_titles(client, world.parent, login_as) == []


async def test_fan_out_skips_a_subscription_whose_relation_is_gone(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    """A class subscription left behind (older data, a child who moved) reaches nobody."""
    assert world.parent.id is not None
    await Subscription(
        subscriber_id=world.parent.id,
        subscriber_role=Role.parent,
        target_type=TargetType.class_,
        target_id=world.class_5a.id,
        school_id=world.school.id,
    ).insert()
    await GuardianLink.find({"parent_id": world.parent.id}).delete()

    await _announce_to_5a(client, world, login_as)

    assert await Notification.find({"recipient_id": world.parent.id}).count() == 0


async def test_unlinking_one_child_keeps_the_class_followed_through_a_sibling(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, make_user: UserFactory
) -> None:
    sibling = await make_user(Role.student, school_ids=[world.school.id])
    assert sibling.id is not None and world.parent.id is not None
    school = await School.get(world.school.id)
    assert school is not None
    school.classes[0].student_ids.append(sibling.id)
    await school.save()
    await GuardianLink(parent_id=world.parent.id, student_id=sibling.id).insert()
    parent_headers = login_as(world.parent)
    await client.post(
        "/subscriptions",
        headers=parent_headers,
        json={"target_type": "class", "target_id": str(world.class_5a.id)},
    )

    await client.delete(f"/users/me/children/{world.student.id}", headers=parent_headers)

    await _announce_to_5a(client, world, login_as)
    assert await _inbox_titles(client, world.parent, login_as) == ["Trip"]


# --- 6. a teacher taken off a class no longer edits its grades ---------------------------


async def test_teacher_removed_from_class_cannot_edit_or_delete_their_grades(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    posted = await client.post(
        "/grades",
        headers=login_as(world.teacher),
        json={
            "student_id": str(world.student.id),
            "class_id": str(world.class_5a.id),
            "subject": "math",
            "value": 4,
        },
    )
    assert posted.status_code == 201
    grade_id = posted.json()["id"]
    removed = await client.delete(
        f"/schools/{world.school.id}/classes/{world.class_5a.id}/teachers/{world.teacher.id}",
        headers=login_as(world.admin),
    )
    assert removed.status_code == 204

    patched = await client.patch(
        f"/grades/{grade_id}", headers=login_as(world.teacher), json={"value": 2}
    )
    deleted = await client.delete(f"/grades/{grade_id}", headers=login_as(world.teacher))

    assert (patched.status_code, deleted.status_code) == (403, 403)
    # The admin still can.
    by_admin = await client.patch(
        f"/grades/{grade_id}", headers=login_as(world.admin), json={"value": 5}
    )
    assert by_admin.status_code == 200
