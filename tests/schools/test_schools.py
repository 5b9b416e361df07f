"""POST, GET /schools and GET, PATCH, DELETE /schools/{school_id}."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from bson import ObjectId

from app.auth.models import User
from app.grades.models import Grade
from app.schools.models import School
from tests.conftest import UserFactory, World
from tests.schools.conftest import REFUSED_ROLES

Headers = Callable[[str], dict[str, str]]
LoginAs = Callable[[User], dict[str, str]]


async def test_admin_creates_a_school_and_then_administers_it(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    response = await client.post(
        "/schools", json={"name": "  Lyceum 2  "}, headers=as_role("admin")
    )
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Lyceum 2"
    assert body["timezone"] == "UTC"
    assert body["grade_scale"] == {"min": 1, "max": 5}
    assert body["classes"] == []

    # The token was issued before the school existed; the admin reaches it all the same.
    fetched = await client.get(f"/schools/{body['id']}", headers=as_role("admin"))
    assert fetched.status_code == 200
    admin = await User.get(world.admin.id)
    assert admin is not None and ObjectId(body["id"]) in admin.school_ids


async def test_create_school_with_timezone_and_scale(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    response = await client.post(
        "/schools",
        json={"name": "Gymnasium", "timezone": "Asia/Tokyo", "grade_scale": {"min": 0, "max": 100}},
        headers=as_role("admin"),
    )
    assert response.status_code == 201
    assert response.json()["timezone"] == "Asia/Tokyo"
    assert response.json()["grade_scale"] == {"min": 0, "max": 100}


@pytest.mark.parametrize("who", ["teacher", "student", "parent"])
async def test_only_admins_create_schools(
    client: httpx.AsyncClient, world: World, as_role: Headers, who: str
) -> None:
    response = await client.post("/schools", json={"name": "Mine"}, headers=as_role(who))
    assert response.status_code == 403
    assert await School.find({"name": "Mine"}).count() == 0


async def test_anonymous_cannot_create_a_school(client: httpx.AsyncClient) -> None:
    response = await client.post("/schools", json={"name": "Mine"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 201},
        {"name": 5},
        {"name": "A", "timezone": "Mars/Olympus_Mons"},
        {"name": "A", "timezone": "../../etc/passwd"},
        {"name": "A", "timezone": "Europe"},
        {"name": "A", "timezone": ""},
        {"name": "A", "timezone": 3},
        {"name": "A", "grade_scale": {"min": 5, "max": 5}},
        {"name": "A", "grade_scale": {"min": 5, "max": 1}},
        {"name": "A", "grade_scale": {"min": -1, "max": 5}},
        {"name": "A", "grade_scale": {"min": 1, "max": 101}},
        {"name": "A", "grade_scale": {"min": 1, "max": 10**30}},
        {"name": "A", "grade_scale": {"min": 1}},
        {"name": "A", "grade_scale": {"min": 1, "max": 5, "step": 1}},
        {"name": "A", "grade_scale": [1, 5]},
        {"name": "A", "owner": "me"},
    ],
)
async def test_create_school_refuses_bad_bodies(
    client: httpx.AsyncClient, world: World, as_role: Headers, body: dict[str, Any]
) -> None:
    response = await client.post("/schools", json=body, headers=as_role("admin"))
    assert response.status_code == 422


async def test_list_shows_only_own_live_schools_newest_first_in_pages(
    client: httpx.AsyncClient, world: World, as_role: Headers, foreign_admin: User
) -> None:
    headers = as_role("admin")
    created = []
    for name in ("B", "C", "D"):
        response = await client.post("/schools", json={"name": name}, headers=headers)
        created.append(response.json()["id"])
    await client.delete(f"/schools/{created[1]}", headers=headers)

    first = await client.get("/schools", params={"limit": 2}, headers=headers)
    assert first.status_code == 200
    assert [s["name"] for s in first.json()["items"]] == ["D", "B"]
    cursor = first.json()["next_cursor"]
    assert cursor

    second = await client.get("/schools", params={"limit": 2, "cursor": cursor}, headers=headers)
    assert [s["name"] for s in second.json()["items"]] == ["School 1"]
    assert second.json()["next_cursor"] is None

    foreign = await client.get("/schools", headers=as_role("foreign_admin"))
    assert [s["name"] for s in foreign.json()["items"]] == ["Other school"]


@pytest.mark.parametrize("params", [{"cursor": "not-a-cursor"}, {"limit": 0}, {"limit": 201}])
async def test_list_refuses_bad_paging(
    client: httpx.AsyncClient, world: World, as_role: Headers, params: dict[str, Any]
) -> None:
    response = await client.get("/schools", params=params, headers=as_role("admin"))
    assert response.status_code == 422


@pytest.mark.parametrize("who", ["teacher", "student", "parent"])
async def test_only_admins_list_schools(
    client: httpx.AsyncClient, world: World, as_role: Headers, who: str
) -> None:
    response = await client.get("/schools", headers=as_role(who))
    assert response.status_code == 403


async def test_admin_reads_the_school_with_its_classes(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    response = await client.get(f"/schools/{world.school.id}", headers=as_role("admin"))
    assert response.status_code == 200
    body = response.json()
    assert body["timezone"] == "Europe/Moscow"
    [class_5a] = body["classes"]
    assert class_5a["name"] == "5A"
    assert class_5a["student_ids"] == [str(world.student.id)]
    assert class_5a["teachers"] == [{"teacher_id": str(world.teacher.id), "subjects": ["math"]}]


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("who", REFUSED_ROLES)
async def test_school_routes_refuse_everyone_but_its_admins(
    client: httpx.AsyncClient, world: World, as_role: Headers, method: str, who: str
) -> None:
    response = await client.request(
        method,
        f"/schools/{world.school.id}",
        json={"name": "Taken over"} if method == "PATCH" else None,
        headers=as_role(who),
    )
    assert response.status_code == 403
    school = await School.get(world.school.id)
    assert school is not None and school.name == "School 1" and school.deleted_at is None


@pytest.mark.parametrize("school_id", ["nope", "123", str(ObjectId())])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_unknown_or_malformed_school_is_404(
    client: httpx.AsyncClient, world: World, as_role: Headers, school_id: str, method: str
) -> None:
    response = await client.request(
        method,
        f"/schools/{school_id}",
        json={"name": "X"} if method == "PATCH" else None,
        headers=as_role("admin"),
    )
    assert response.status_code == 404


async def test_patch_changes_name_timezone_and_scale(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    response = await client.patch(
        f"/schools/{world.school.id}",
        json={
            "name": "School No. 1",
            "timezone": "Asia/Yekaterinburg",
            "grade_scale": {"min": 1, "max": 10},
        },
        headers=as_role("admin"),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "School No. 1"
    assert body["timezone"] == "Asia/Yekaterinburg"
    assert body["grade_scale"] == {"min": 1, "max": 10}
    assert [c["name"] for c in body["classes"]] == ["5A"]

    again = await client.get(f"/schools/{world.school.id}", headers=as_role("admin"))
    assert again.json() == body


async def test_patch_keeps_what_is_left_out(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    response = await client.patch(
        f"/schools/{world.school.id}", json={"name": "Renamed"}, headers=as_role("admin")
    )
    assert response.status_code == 200
    assert response.json()["timezone"] == "Europe/Moscow"
    assert response.json()["grade_scale"] == {"min": 1, "max": 5}


@pytest.mark.parametrize(
    "body",
    [
        {"name": None},
        {"timezone": None},
        {"grade_scale": None},
        {"name": ""},
        {"timezone": "Nowhere/Special"},
        {"grade_scale": {"min": 3, "max": 2}},
        {"grade_scale": {"max": 10}},
        {"classes": []},
    ],
)
async def test_patch_refuses_bad_bodies(
    client: httpx.AsyncClient, world: World, as_role: Headers, body: dict[str, Any]
) -> None:
    response = await client.patch(
        f"/schools/{world.school.id}", json=body, headers=as_role("admin")
    )
    assert response.status_code == 422


async def _grade(world: World, value: int) -> None:
    assert world.school.id and world.student.id and world.teacher.id
    await Grade(
        school_id=world.school.id,
        class_id=world.class_5a.id,
        student_id=world.student.id,
        teacher_id=world.teacher.id,
        subject="math",
        value=value,
        date=datetime(2024, 9, 2, tzinfo=UTC),
    ).insert()


async def test_scale_cannot_shrink_below_existing_grades(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    await _grade(world, 5)
    refused = await client.patch(
        f"/schools/{world.school.id}",
        json={"grade_scale": {"min": 1, "max": 4}},
        headers=as_role("admin"),
    )
    assert refused.status_code == 409
    assert "1 existing grade" in refused.json()["detail"]

    school = await School.get(world.school.id)
    assert school is not None and school.grade_scale.max == 5

    widened = await client.patch(
        f"/schools/{world.school.id}",
        json={"grade_scale": {"min": 0, "max": 10}},
        headers=as_role("admin"),
    )
    assert widened.status_code == 200
    assert widened.json()["grade_scale"] == {"min": 0, "max": 10}


async def test_grades_of_other_schools_do_not_block_a_scale_change(
    client: httpx.AsyncClient, world: World, as_role: Headers, make_user: UserFactory
) -> None:
    await _grade(world, 5)
    response = await client.post("/schools", json={"name": "New"}, headers=as_role("admin"))
    changed = await client.patch(
        f"/schools/{response.json()['id']}",
        json={"grade_scale": {"min": 1, "max": 3}},
        headers=as_role("admin"),
    )
    assert changed.status_code == 200


async def test_delete_is_soft_and_hides_the_school(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    headers = as_role("admin")
    response = await client.delete(f"/schools/{world.school.id}", headers=headers)
    assert response.status_code == 204

    assert (await client.get(f"/schools/{world.school.id}", headers=headers)).status_code == 404
    assert (await client.delete(f"/schools/{world.school.id}", headers=headers)).status_code == 404
    listed = await client.get("/schools", headers=headers)
    assert listed.json()["items"] == []
    class_url = f"/schools/{world.school.id}/classes/{world.class_5a.id}"
    assert (await client.get(class_url, headers=as_role("student"))).status_code == 404

    kept = await School.get(world.school.id)
    assert kept is not None and kept.deleted_at is not None
    assert [c.name for c in kept.classes] == ["5A"]
