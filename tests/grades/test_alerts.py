"""Grade alerts a parent sets for a child: the routes, and the once-per-crossing rule as the
parent's inbox shows it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.auth.models import Role, User
from app.core.config import Settings
from app.notifications.links import preferences_token
from app.notifications.models import Notification
from tests.conftest import UserFactory, World
from tests.grades.helpers import days_ago, posted

LoginAs = Callable[[User], dict[str, str]]


def alerts_url(world: World, student: User | None = None) -> str:
    return f"/users/me/children/{(student or world.student).id}/alerts"


async def set_rules(
    client: httpx.AsyncClient, world: World, headers: dict[str, str], **rules: Any
) -> dict[str, Any]:
    response = await client.put(alerts_url(world), json=rules, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def alerts_of(user: User) -> list[Notification]:
    return await Notification.find({"recipient_id": user.id, "data.alert": {"$ne": None}}).to_list()


class Grading:
    def __init__(self, client: httpx.AsyncClient, world: World, headers: dict[str, str]):
        self.client, self.world, self.headers, self.day = client, world, headers, 30

    async def give(self, value: int, subject: str = "math", **fields: Any) -> dict[str, Any]:
        # Each grade a day later, so the newest is the last given.
        self.day -= 1
        return await posted(
            self.client,
            self.headers,
            self.world,
            value=value,
            subject=subject,
            date=days_ago(self.world, self.day),
            **fields,
        )


# --- the routes ------------------------------------------------------------------------------


async def test_a_parent_reads_and_sets_alerts_for_a_child(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, parent: User
) -> None:
    headers = login_as(parent)
    response = await client.get(alerts_url(world), headers=headers)
    assert response.status_code == 200
    assert response.json() == {
        "student_id": str(world.student.id),
        "grade_at_most": None,
        "average_below": None,
        "subjects": [],
        "holding": [],
    }
    saved = await set_rules(
        client, world, headers, grade_at_most=2, average_below=3.5, subjects=[" Math ", "math"]
    )
    assert saved["grade_at_most"] == 2 and saved["average_below"] == 3.5
    assert saved["subjects"] == ["math"]
    assert (await client.get(alerts_url(world), headers=headers)).json() == saved
    # PUT replaces: what is left out is off.
    replaced = await set_rules(client, world, headers, average_below=3)
    assert replaced["grade_at_most"] is None and replaced["subjects"] == []


async def test_who_may_not_read_or_set_a_childs_alerts(
    client: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    parent: User,
    make_user: UserFactory,
) -> None:
    body = {"average_below": 3.5}
    assert (await client.get(alerts_url(world))).status_code == 401
    assert (await client.put(alerts_url(world), json=body)).status_code == 401
    for user in (world.student, world.teacher, world.admin):
        headers = login_as(user)
        assert (await client.get(alerts_url(world), headers=headers)).status_code == 403
        assert (await client.put(alerts_url(world), json=body, headers=headers)).status_code == 403
    stranger = login_as(await make_user(Role.parent))
    assert (await client.get(alerts_url(world), headers=stranger)).status_code == 404
    assert (await client.put(alerts_url(world), json=body, headers=stranger)).status_code == 404
    bad_id = "/users/me/children/not-an-id/alerts"
    assert (await client.get(bad_id, headers=login_as(parent))).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"average_below": -1},
        {"average_below": 0},
        {"average_below": "low"},
        {"grade_at_most": 2.5},
        {"grade_at_most": "2"},
        {"subjects": [""]},
        {"subjects": "math"},
        {"when": "always"},
    ],
)
async def test_bad_rules_are_refused(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, parent: User, body: dict[str, Any]
) -> None:
    response = await client.put(alerts_url(world), json=body, headers=login_as(parent))
    assert response.status_code == 422, response.text


# --- firing ------------------------------------------------------------------------------------


async def test_an_average_alert_fires_once_per_crossing(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, parent: User
) -> None:
    await set_rules(client, world, login_as(parent), average_below=3.5, subjects=["math"])
    grading = Grading(client, world, login_as(world.teacher))
    await grading.give(5)
    await grading.give(2)  # 3.5: not below
    assert await alerts_of(parent) == []
    await grading.give(2)  # 3.0: below, it begins to hold
    (alert,) = await alerts_of(parent)
    assert alert.priority == "high" and alert.topic == "grades" and alert.in_app
    assert alert.data["alert"] == "average_below" and alert.data["average"] == 3
    assert alert.data["threshold"] == 3.5 and alert.data["subject"] == "math"
    assert "below 3.5" in alert.title and world.student.full_name in alert.title
    await grading.give(2)  # still below: quiet
    # Another subject, not watched, however low.
    await posted(client, login_as(world.admin), world, value=1, subject="history")
    assert len(await alerts_of(parent)) == 1
    for _ in range(3):
        await grading.give(5)  # back above: it stops holding
    assert len(await alerts_of(parent)) == 1
    await grading.give(1)
    await grading.give(1)  # below again: a second alert
    assert len(await alerts_of(parent)) == 2
    # Nobody else hears of it: not the student, not a parent of another child.
    assert await alerts_of(world.student) == []


async def test_a_weighted_average_counts_tests_double(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, parent: User
) -> None:
    await set_rules(client, world, login_as(parent), average_below=3.5)
    grading = Grading(client, world, login_as(world.teacher))
    await grading.give(5)
    await grading.give(3)
    assert await alerts_of(parent) == []  # plain average 4
    await grading.give(2, kind="test")  # (5 + 3 + 4) / 4 = 3.0
    (alert,) = await alerts_of(parent)
    assert alert.data["average"] == 3


async def test_a_low_grade_alert_fires_again_only_after_a_better_grade(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, parent: User
) -> None:
    await set_rules(client, world, login_as(parent), grade_at_most=2)
    grading = Grading(client, world, login_as(world.teacher))
    await grading.give(4)
    await grading.give(2)
    (alert,) = await alerts_of(parent)
    assert alert.data["alert"] == "grade_at_most" and alert.data["value"] == 2
    await grading.give(1)  # still at most 2
    assert len(await alerts_of(parent)) == 1
    await grading.give(4)
    await grading.give(2)
    assert len(await alerts_of(parent)) == 2


async def test_a_withdrawn_or_corrected_grade_re_evaluates(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, parent: User
) -> None:
    await set_rules(client, world, login_as(parent), average_below=3.5)
    teacher = login_as(world.teacher)
    grading = Grading(client, world, teacher)
    await grading.give(4)
    low = await grading.give(2)
    assert len(await alerts_of(parent)) == 1
    # Withdrawn: the average is 4 again, so the rule stops holding...
    assert (await client.delete(f"/grades/{low['id']}", headers=teacher)).status_code == 204
    holding = (await client.get(alerts_url(world), headers=login_as(parent))).json()["holding"]
    assert holding == []
    # ...and a new low grade is a new crossing.
    low = await grading.give(2)
    assert len(await alerts_of(parent)) == 2
    # Corrected up: it stops; corrected down again: a third alert.
    await client.patch(f"/grades/{low['id']}", json={"value": 5}, headers=teacher)
    await client.patch(f"/grades/{low['id']}", json={"value": 1}, headers=teacher)
    assert len(await alerts_of(parent)) == 3


async def test_a_rule_set_while_it_holds_waits_for_the_next_crossing(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, parent: User
) -> None:
    grading = Grading(client, world, login_as(world.teacher))
    await grading.give(2)
    saved = await set_rules(client, world, login_as(parent), average_below=3.5)
    assert saved["holding"] == ["average_below:math"]
    await grading.give(2)
    assert await alerts_of(parent) == []


async def test_a_parent_no_longer_linked_hears_nothing(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, parent: User
) -> None:
    await set_rules(client, world, login_as(parent), grade_at_most=2)
    response = await client.delete(
        f"/users/me/children/{world.student.id}", headers=login_as(parent)
    )
    assert response.status_code == 204
    await Grading(client, world, login_as(world.teacher)).give(1)
    assert await alerts_of(parent) == []


async def test_grades_posted_at_once_fire_one_alert(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, parent: User
) -> None:
    await set_rules(client, world, login_as(parent), grade_at_most=2)
    teacher, admin = login_as(world.teacher), login_as(world.admin)
    # Two grades in flight together, each evaluated as its request ends.
    await asyncio.gather(
        posted(client, teacher, world, value=1),
        posted(client, admin, world, value=2, subject="math"),
    )
    assert len(await alerts_of(parent)) == 1


async def test_the_preference_centre_tells_where_alerts_arrive(
    site: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    assert world.parent.id is not None
    token = preferences_token(settings=settings, user_id=world.parent.id)
    page = (await site.get("/preferences", params={"token": token})).text
    grades = page[page.index("<legend>Grades</legend>") : page.index("</fieldset>")]
    assert "Grade alerts you set for a child" in grades
