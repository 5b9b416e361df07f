"""POST, GET /schools/{id}/classes and GET, PATCH, DELETE /schools/{id}/classes/{class_id}."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from bson import ObjectId

from app.auth.models import Role, User
from app.schools.models import GuardianLink, School
from tests.conftest import UserFactory, World
from tests.schools.conftest import REFUSED_ROLES

Headers = Callable[[str], dict[str, str]]
LoginAs = Callable[[User], dict[str, str]]


def classes_url(world: World) -> str:
    return f"/schools/{world.school.id}/classes"


def class_url(world: World, class_id: Any = None) -> str:
    return f"/schools/{world.school.id}/classes/{class_id or world.class_5a.id}"


async def test_admin_adds_a_class(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    response = await client.post(
        classes_url(world), json={"name": " 6B ", "year": 6}, headers=as_role("admin")
    )
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "6B"
    assert body["year"] == 6
    assert body["student_ids"] == [] and body["teachers"] == []

    school = await School.get(world.school.id)
    assert school is not None
    assert [(str(c.id), c.name) for c in school.classes] == [
        (str(world.class_5a.id), "5A"),
        (body["id"], "6B"),
    ]


async def test_year_is_optional(client: httpx.AsyncClient, world: World, as_role: Headers) -> None:
    response = await client.post(
        classes_url(world), json={"name": "Prep"}, headers=as_role("admin")
    )
    assert response.status_code == 201
    assert response.json()["year"] is None


@pytest.mark.parametrize("name", ["5A", "  5A  "])
async def test_class_names_are_unique_in_a_school(
    client: httpx.AsyncClient, world: World, as_role: Headers, name: str
) -> None:
    response = await client.post(classes_url(world), json={"name": name}, headers=as_role("admin"))
    assert response.status_code == 409
    assert "5A" in response.json()["detail"]
    school = await School.get(world.school.id)
    assert school is not None and len(school.classes) == 1


async def test_same_class_name_is_fine_in_another_school(
    client: httpx.AsyncClient, world: World, foreign_admin: User, login_as: LoginAs
) -> None:
    other_school = foreign_admin.school_ids[0]
    response = await client.post(
        f"/schools/{other_school}/classes", json={"name": "5A"}, headers=login_as(foreign_admin)
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 51},
        {"name": "5B", "year": -1},
        {"name": "5B", "year": 10**12},
        {"name": "5B", "year": "five"},
        {"name": "5B", "student_ids": []},
    ],
)
async def test_add_class_refuses_bad_bodies(
    client: httpx.AsyncClient, world: World, as_role: Headers, body: dict[str, Any]
) -> None:
    response = await client.post(classes_url(world), json=body, headers=as_role("admin"))
    assert response.status_code == 422


@pytest.mark.parametrize("who", REFUSED_ROLES)
async def test_only_the_schools_admins_add_and_list_classes(
    client: httpx.AsyncClient, world: World, as_role: Headers, who: str
) -> None:
    added = await client.post(classes_url(world), json={"name": "9Z"}, headers=as_role(who))
    assert added.status_code == 403
    listed = await client.get(classes_url(world), headers=as_role(who))
    assert listed.status_code == 403
    school = await School.get(world.school.id)
    assert school is not None and len(school.classes) == 1


@pytest.mark.parametrize("school_id", ["garbage", str(ObjectId())])
async def test_classes_of_an_unknown_school_are_404(
    client: httpx.AsyncClient, world: World, as_role: Headers, school_id: str
) -> None:
    url = f"/schools/{school_id}/classes"
    assert (await client.get(url, headers=as_role("admin"))).status_code == 404
    added = await client.post(url, json={"name": "1A"}, headers=as_role("admin"))
    assert added.status_code == 404


async def test_list_classes_pages_newest_first(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    headers = as_role("admin")
    for name in ("6A", "7A"):
        await client.post(classes_url(world), json={"name": name}, headers=headers)

    first = await client.get(classes_url(world), params={"limit": 2}, headers=headers)
    assert first.status_code == 200
    assert [c["name"] for c in first.json()["items"]] == ["7A", "6A"]
    second = await client.get(
        classes_url(world),
        params={"limit": 2, "cursor": first.json()["next_cursor"]},
        headers=headers,
    )
    assert [c["name"] for c in second.json()["items"]] == ["5A"]
    assert second.json()["next_cursor"] is None

    bad = await client.get(classes_url(world), params={"cursor": "%%%"}, headers=headers)
    assert bad.status_code == 422


@pytest.mark.parametrize("who", ["admin", "teacher", "student", "parent"])
async def test_admin_teacher_and_members_read_the_class(
    client: httpx.AsyncClient, world: World, as_role: Headers, who: str
) -> None:
    response = await client.get(class_url(world), headers=as_role(who))
    assert response.status_code == 200
    assert response.json()["name"] == "5A"
    assert response.json()["year"] == 5


async def test_outsiders_cannot_read_the_class(
    client: httpx.AsyncClient,
    world: World,
    as_role: Headers,
    make_user: UserFactory,
    login_as: LoginAs,
) -> None:
    assert world.school.id is not None
    colleague = await make_user(Role.teacher, school_ids=[world.school.id])
    other_pupil = await make_user(Role.student, school_ids=[world.school.id])
    other_parent = await make_user(Role.parent)
    assert other_pupil.id and other_parent.id
    # Linked, but to a child who is not in 5A.
    await GuardianLink(parent_id=other_parent.id, student_id=other_pupil.id).insert()

    for caller in (colleague, other_pupil, other_parent):
        response = await client.get(class_url(world), headers=login_as(caller))
        assert response.status_code == 403, caller.role
    assert (await client.get(class_url(world), headers=as_role("foreign_admin"))).status_code == 403


@pytest.mark.parametrize("class_id", ["zzz", str(ObjectId())])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_unknown_or_malformed_class_is_404(
    client: httpx.AsyncClient, world: World, as_role: Headers, class_id: str, method: str
) -> None:
    response = await client.request(
        method,
        class_url(world, class_id),
        json={"name": "X"} if method == "PATCH" else None,
        headers=as_role("admin"),
    )
    assert response.status_code == 404


async def test_admin_renames_a_class_and_changes_its_year(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    response = await client.patch(
        class_url(world), json={"name": "5A-bis", "year": 6}, headers=as_role("admin")
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["year"]) == ("5A-bis", 6)
    # The roster and the teachers stay with the class.
    assert body["student_ids"] == [str(world.student.id)]
    assert body["teachers"][0]["subjects"] == ["math"]

    stored = await School.get(world.school.id)
    assert stored is not None and stored.classes[0].name == "5A-bis"


async def test_patch_year_null_clears_it_and_omitting_keeps_it(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    kept = await client.patch(class_url(world), json={"name": "5A"}, headers=as_role("admin"))
    assert kept.status_code == 200
    assert kept.json()["year"] == 5
    cleared = await client.patch(class_url(world), json={"year": None}, headers=as_role("admin"))
    assert cleared.status_code == 200
    assert cleared.json()["year"] is None
    assert cleared.json()["name"] == "5A"


async def test_rename_onto_another_class_is_409(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    created = await client.post(classes_url(world), json={"name": "5B"}, headers=as_role("admin"))
    response = await client.patch(
        class_url(world, created.json()["id"]), json={"name": "5A"}, headers=as_role("admin")
    )
    assert response.status_code == 409
    school = await School.get(world.school.id)
    assert school is not None and sorted(c.name for c in school.classes) == ["5A", "5B"]


@pytest.mark.parametrize(
    "body", [{"name": None}, {"name": ""}, {"year": -3}, {"year": "x"}, {"teachers": []}]
)
async def test_patch_class_refuses_bad_bodies(
    client: httpx.AsyncClient, world: World, as_role: Headers, body: dict[str, Any]
) -> None:
    response = await client.patch(class_url(world), json=body, headers=as_role("admin"))
    assert response.status_code == 422


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
@pytest.mark.parametrize("who", REFUSED_ROLES)
async def test_only_admins_change_or_delete_a_class(
    client: httpx.AsyncClient, world: World, as_role: Headers, method: str, who: str
) -> None:
    response = await client.request(
        method,
        class_url(world),
        json={"name": "Hijacked"} if method == "PATCH" else None,
        headers=as_role(who),
    )
    assert response.status_code == 403
    school = await School.get(world.school.id)
    assert school is not None and [c.name for c in school.classes] == ["5A"]


async def test_admin_deletes_a_class(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    created = await client.post(classes_url(world), json={"name": "5B"}, headers=as_role("admin"))
    response = await client.delete(class_url(world), headers=as_role("admin"))
    assert response.status_code == 204

    assert (await client.get(class_url(world), headers=as_role("admin"))).status_code == 404
    assert (await client.delete(class_url(world), headers=as_role("admin"))).status_code == 404
    school = await School.get(world.school.id)
    assert school is not None and [str(c.id) for c in school.classes] == [created.json()["id"]]
