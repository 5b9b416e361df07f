"""The announcement list names each author, and shows delivery figures to those who manage
the announcement: the school's admins, and its author while still teaching its classes."""

from __future__ import annotations

from typing import Any

import httpx

from app.schools.models import School
from tests.announcements.helpers import Login, announce
from tests.notifications.helpers import Campus


async def listed(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = await client.get("/announcements", headers=headers)
    assert response.status_code == 200, response.text
    return {item["title"]: item for item in response.json()["items"]}


async def test_authors_are_named_and_figures_go_to_those_who_manage(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    admin, teacher = campus.people["admin"], campus.people["t5a"]
    to_5a: dict[str, Any] = {"class_ids": [str(campus.class_5a.id)]}
    assert (await announce(client, login_as(admin), campus, title="School news")).status_code == 202
    posted = await announce(client, login_as(teacher), campus, title="5A trip", **to_5a)
    assert posted.status_code == 202
    assert posted.json()["author_name"] == teacher.full_name

    as_admin = await listed(client, login_as(admin))
    assert as_admin["School news"]["author_name"] == admin.full_name
    assert as_admin["5A trip"]["author_name"] == teacher.full_name
    # Everyone in 5A and their parents got the trip: as many recipients as GET one says.
    trip_id = as_admin["5A trip"]["id"]
    one = (await client.get(f"/announcements/{trip_id}", headers=login_as(admin))).json()
    assert one["author_name"] == teacher.full_name
    assert as_admin["5A trip"]["stats"] == one["stats"]
    assert one["stats"]["recipients"] > 0 and one["stats"]["in_app"] > 0
    assert as_admin["School news"]["stats"]["recipients"] > 0

    as_author = await listed(client, login_as(teacher))
    assert as_author["5A trip"]["stats"] == one["stats"]
    assert as_author["School news"]["stats"] is None  # hers to read, not to manage
    assert as_author["School news"]["author_name"] == admin.full_name

    as_student = await listed(client, login_as(campus.people["s5a"]))
    assert {t: i["stats"] for t, i in as_student.items()} == {"School news": None, "5A trip": None}
    assert as_student["5A trip"]["author_name"] == teacher.full_name
    as_parent = await listed(client, login_as(campus.people["p_all"]))
    assert all(item["stats"] is None for item in as_parent.values())


async def test_an_author_taken_off_the_class_no_longer_sees_the_figures(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    teacher = campus.people["t5a"]
    to_5a: dict[str, Any] = {"class_ids": [str(campus.class_5a.id)]}
    posted = await announce(client, login_as(teacher), campus, title="Trip", **to_5a)
    assert posted.status_code == 202
    school = await School.get(campus.school.id)
    assert school is not None
    school.classes[0].teachers = []
    await school.save()

    as_author = await listed(client, login_as(teacher))

    assert as_author["Trip"]["stats"] is None
    assert as_author["Trip"]["author_name"] == teacher.full_name
