"""A school's grade scale cannot be narrowed past grades already given on it."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from app.auth.models import User
from tests.conftest import World
from tests.grades.helpers import post_grade

LoginAs = Callable[[User], dict[str, str]]


async def test_a_scale_that_would_strand_grades_is_refused_and_a_wider_one_taken(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    teacher, admin = login_as(world.teacher), login_as(world.admin)
    for value in (5, 2):
        assert (await post_grade(client, teacher, world, value=value)).status_code == 201
    url = f"/schools/{world.school.id}"

    narrowed = await client.patch(url, json={"grade_scale": {"min": 1, "max": 4}}, headers=admin)

    assert narrowed.status_code == 409, narrowed.text
    assert "1 existing grade(s)" in narrowed.json()["detail"]
    assert "1..4" in narrowed.json()["detail"]
    school = (await client.get(url, headers=admin)).json()
    assert school["grade_scale"] == {"min": 1, "max": 5}

    widened = await client.patch(url, json={"grade_scale": {"min": 1, "max": 10}}, headers=admin)

    assert widened.status_code == 200, widened.text
    assert widened.json()["grade_scale"] == {"min": 1, "max": 10}


async def test_renaming_a_school_with_grades_leaves_its_scale(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    assert (await post_grade(client, login_as(world.teacher), world, value=5)).status_code == 201

    response = await client.patch(
        f"/schools/{world.school.id}", json={"name": "Lyceum 2"}, headers=login_as(world.admin)
    )

    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Lyceum 2"
    assert response.json()["grade_scale"] == {"min": 1, "max": 5}


async def test_only_the_schools_admin_changes_its_scale(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    response = await client.patch(
        f"/schools/{world.school.id}",
        json={"grade_scale": {"min": 1, "max": 10}},
        headers=login_as(world.teacher),
    )
    assert response.status_code == 403
