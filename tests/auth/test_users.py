"""The /users routes over HTTP: the admin's user management (one's own profile: test_me.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from app.auth.models import Role, User
from app.core.config import Settings
from app.schools.models import GuardianLink, School
from tests.auth.conftest import NEW_PASSWORD, bearer, login, login_pair, outbox
from tests.conftest import DEFAULT_PASSWORD, UserFactory, World
from tests.query_shapes import filters_sent, longest_list

LoginAs = Callable[[User], dict[str, str]]


@pytest.fixture
async def school_b(make_user: UserFactory) -> dict[str, Any]:
    """A second school with its own admin, teacher and a student whose parent is linked."""
    school = School(name="School B")
    await school.insert()
    assert school.id is not None
    student = await make_user(Role.student, school_ids=[school.id], full_name="Boris B")
    parent = await make_user(Role.parent, full_name="Parent of Boris")
    assert student.id is not None and parent.id is not None
    await GuardianLink(parent_id=parent.id, student_id=student.id).insert()
    return {
        "school": school,
        "admin": await make_user(Role.admin, school_ids=[school.id]),
        "teacher": await make_user(Role.teacher, school_ids=[school.id]),
        "student": student,
        "parent": parent,
    }


def new_user(school: School | None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": "New.Teacher@Example.org",
        "password": "long-enough-password",
        "full_name": "New Teacher",
        "role": "teacher",
        **fields,
    }
    if school is not None:
        body["school_id"] = str(school.id)
    return body


async def test_admin_creates_a_user_in_their_school(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, settings: Settings
) -> None:
    response = await client.post(
        "/users", headers=login_as(world.admin), json=new_user(world.school, locale="ru")
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "new.teacher@example.org"
    assert body["role"] == "teacher"
    assert body["school_ids"] == [str(world.school.id)]
    assert body["email_verified"] is False
    assert [m["To"] for m in outbox(settings)] == ["new.teacher@example.org"]
    assert (
        await login(client, "new.teacher@example.org", "long-enough-password")
    ).status_code == 200


async def test_admin_creates_a_schoolless_parent_or_admin(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    parent = await client.post(
        "/users",
        headers=login_as(world.admin),
        json=new_user(None, role="parent", email="p@example.org"),
    )
    admin = await client.post(
        "/users",
        headers=login_as(world.admin),
        json=new_user(None, role="admin", email="a@example.org"),
    )

    assert (parent.status_code, admin.status_code) == (201, 201)
    assert admin.json()["school_ids"] == []


@pytest.mark.parametrize("role", ["teacher", "student", "parent"])
async def test_only_admins_create_users(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, role: str
) -> None:
    caller = {"teacher": world.teacher, "student": world.student, "parent": world.parent}[role]

    response = await client.post("/users", headers=login_as(caller), json=new_user(world.school))

    assert response.status_code == 403
    assert await User.find_one({"email": "new.teacher@example.org"}) is None


async def test_admin_cannot_create_users_in_another_school(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, school_b: dict[str, Any]
) -> None:
    foreign = await client.post(
        "/users", headers=login_as(world.admin), json=new_user(school_b["school"])
    )
    unknown = await client.post(
        "/users",
        headers=login_as(world.admin),
        json={**new_user(None), "school_id": "64b000000000000000000000"},
    )
    malformed = await client.post(
        "/users", headers=login_as(world.admin), json={**new_user(None), "school_id": "nope"}
    )

    assert foreign.status_code == 403
    assert unknown.status_code == 404
    assert malformed.status_code == 404


@pytest.mark.parametrize(
    "fields",
    [
        {"role": "superuser"},
        {"role": "teacher", "school_id": None},
        {"role": "student", "school_id": None},
        {"password": "short"},
        {"timezone": "Nowhere/Land"},
        {"email": "bad"},
        {"unknown": 1},
    ],
)
async def test_create_user_refuses_bad_input(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, fields: dict[str, Any]
) -> None:
    body = {**new_user(world.school), **fields}
    body = {key: value for key, value in body.items() if value is not None}

    response = await client.post("/users", headers=login_as(world.admin), json=body)

    assert response.status_code == 422, response.text


async def test_create_user_with_a_taken_email_is_409(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    body = new_user(world.school, email=world.teacher.email.upper())

    response = await client.post("/users", headers=login_as(world.admin), json=body)

    assert response.status_code == 409


async def list_emails(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[str]:
    response = await client.get("/users", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return [item["email"] for item in response.json()["items"]]


async def test_admin_lists_their_school_and_linked_parents_only(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, school_b: dict[str, Any]
) -> None:
    emails = await list_emails(client, login_as(world.admin))

    mine = {world.admin.email, world.teacher.email, world.student.email, world.parent.email}
    assert set(emails) == mine
    # Members newest first, then the parents linked to their students.
    assert emails == [
        world.student.email,
        world.teacher.email,
        world.admin.email,
        world.parent.email,
    ]


@pytest.fixture
def user_filters() -> Iterator[list[Any]]:
    with filters_sent(User.Settings.name) as seen:
        yield seen


async def test_parents_page_after_members_each_once_with_queries_a_page_long(
    user_filters: list[Any],
    client: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    make_user: UserFactory,
    school_b: dict[str, Any],
) -> None:
    assert world.school.id is not None and world.student.id is not None
    second_child = await make_user(Role.student, school_ids=[world.school.id])
    parents = [world.parent]
    for n in range(9):
        parent = await make_user(Role.parent, full_name=f"Parent {n}")
        assert parent.id is not None and second_child.id is not None
        await GuardianLink(parent_id=parent.id, student_id=world.student.id).insert()
        if n % 3 == 0:  # two children here: listed once all the same
            await GuardianLink(parent_id=parent.id, student_id=second_child.id).insert()
        parents.append(parent)
    gone = await make_user(Role.parent, deleted_at=world.school.created_at)
    assert gone.id is not None
    await GuardianLink(parent_id=gone.id, student_id=world.student.id).insert()
    # A parent who also works here is listed once, with the members.
    teaching = await make_user(Role.parent, school_ids=[world.school.id])
    assert teaching.id is not None
    await GuardianLink(parent_id=teaching.id, student_id=world.student.id).insert()

    headers = login_as(world.admin)
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/users", headers=headers, params=params)
        assert response.status_code == 200, response.text
        pages.append([item["email"] for item in response.json()["items"]])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
    listed = [email for page in pages for email in page]
    members = [teaching, second_child, world.student, world.teacher, world.admin]
    by_id = sorted(parents, key=lambda p: str(p.id))
    assert listed == [u.email for u in members] + [p.email for p in by_id]
    assert all(len(page) == 3 for page in pages[:-1])
    # No query named more users than a page's links: nothing grows with the district.
    assert max(longest_list(f) for f in user_filters) <= 4
    assert await list_emails(client, headers, role="parent", q="Parent 4") == [parents[5].email]


async def test_user_list_filters_by_role_school_and_query(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, make_user: UserFactory
) -> None:
    await make_user(Role.teacher, school_ids=[world.school.id], full_name="Olga Smirnova")
    headers = login_as(world.admin)

    assert await list_emails(client, headers, role="parent") == [world.parent.email]
    school_wide = await list_emails(client, headers, school_id=str(world.school.id))
    assert world.parent.email in school_wide and len(school_wide) == 5
    assert len(await list_emails(client, headers, q="SMIRNOVA")) == 1
    assert await list_emails(client, headers, q=world.student.email[:6]) == [world.student.email]
    # The query is text, not a pattern.
    assert await list_emails(client, headers, q=".*") == []
    assert await list_emails(client, headers, q="(") == []


async def test_user_list_refuses_bad_filters_and_other_schools(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, school_b: dict[str, Any]
) -> None:
    headers = login_as(world.admin)

    foreign = await client.get(
        "/users", headers=headers, params={"school_id": str(school_b["school"].id)}
    )
    malformed = await client.get("/users", headers=headers, params={"school_id": "zzz"})
    bad_role = await client.get("/users", headers=headers, params={"role": "king"})
    long_q = await client.get("/users", headers=headers, params={"q": "x" * 101})
    bad_cursor = await client.get("/users", headers=headers, params={"cursor": "%%%"})
    bad_limit = await client.get("/users", headers=headers, params={"limit": 0})

    assert foreign.status_code == 403
    assert [r.status_code for r in (malformed, bad_role, long_q, bad_cursor, bad_limit)] == [
        422
    ] * 5


@pytest.mark.parametrize("role", ["teacher", "student", "parent"])
async def test_only_admins_list_users(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, role: str
) -> None:
    caller = {"teacher": world.teacher, "student": world.student, "parent": world.parent}[role]

    assert (await client.get("/users", headers=login_as(caller))).status_code == 403


async def test_user_list_pages_with_a_cursor(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, make_user: UserFactory
) -> None:
    for _ in range(3):
        await make_user(Role.student, school_ids=[world.school.id])
    headers = login_as(world.admin)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = (await client.get("/users", headers=headers, params=params)).json()
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert pages == 4
    assert len(seen) == len(set(seen)) == 7


async def test_admin_without_schools_sees_nobody(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, make_user: UserFactory
) -> None:
    lonely = await make_user(Role.admin)

    assert await list_emails(client, login_as(lonely)) == []


async def test_admin_reads_users_of_their_school_only(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, school_b: dict[str, Any]
) -> None:
    headers = login_as(world.admin)

    own = await client.get(f"/users/{world.teacher.id}", headers=headers)
    linked_parent = await client.get(f"/users/{world.parent.id}", headers=headers)
    other_school = await client.get(f"/users/{school_b['teacher'].id}", headers=headers)
    other_parent = await client.get(f"/users/{school_b['parent'].id}", headers=headers)
    malformed = await client.get("/users/not-an-id", headers=headers)
    missing = await client.get("/users/64b000000000000000000000", headers=headers)

    assert own.status_code == 200 and own.json()["email"] == world.teacher.email
    assert linked_parent.status_code == 200
    assert [r.status_code for r in (other_school, other_parent, malformed, missing)] == [404] * 4


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
@pytest.mark.parametrize("role", ["teacher", "student", "parent"])
async def test_only_admins_manage_a_user(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, role: str, method: str
) -> None:
    caller = {"teacher": world.teacher, "student": world.student, "parent": world.parent}[role]
    kwargs: dict[str, Any] = {"json": {"full_name": "Hacked"}} if method == "patch" else {}

    response = await client.request(
        method.upper(), f"/users/{world.admin.id}", headers=login_as(caller), **kwargs
    )

    assert response.status_code == 403
    stored = await User.get(world.admin.id)
    assert stored is not None and stored.full_name != "Hacked" and not stored.is_deleted


async def test_admin_patches_a_user(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    response = await client.patch(
        f"/users/{world.teacher.id}",
        headers=login_as(world.admin),
        json={"full_name": "Ivan Ivanovich", "locale": "ru", "timezone": "Europe/Samara"},
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["full_name"], body["locale"], body["timezone"]) == (
        "Ivan Ivanovich",
        "ru",
        "Europe/Samara",
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"role": "parent"},
        {"school_ids": []},
        {"timezone": "Bad/Zone"},
        {"password": NEW_PASSWORD},
        {"email": "new@example.org"},
    ],
)
async def test_admin_patch_refuses_bad_input(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, changes: dict[str, Any]
) -> None:
    response = await client.patch(
        f"/users/{world.teacher.id}", headers=login_as(world.admin), json=changes
    )

    assert response.status_code == 422


async def test_admin_of_school_a_cannot_patch_or_delete_school_b_users(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, school_b: dict[str, Any]
) -> None:
    target = school_b["teacher"]
    headers = login_as(world.admin)

    patched = await client.patch(f"/users/{target.id}", headers=headers, json={"full_name": "X"})
    deleted = await client.delete(f"/users/{target.id}", headers=headers)

    assert (patched.status_code, deleted.status_code) == (404, 404)
    stored = await User.get(target.id)
    assert stored is not None and stored.full_name == target.full_name and not stored.is_deleted


async def test_soft_delete_hides_the_user_and_ends_their_access(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    pair = await login_pair(client, world.teacher.email, DEFAULT_PASSWORD)
    headers = login_as(world.admin)

    response = await client.delete(f"/users/{world.teacher.id}", headers=headers)

    assert response.status_code == 204
    assert (await client.get(f"/users/{world.teacher.id}", headers=headers)).status_code == 404
    assert world.teacher.email not in await list_emails(client, headers)
    assert (await login(client, world.teacher.email, DEFAULT_PASSWORD)).status_code == 401
    assert (await client.get("/users/me", headers=bearer(pair))).status_code == 401
    refreshed = await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 401
    # The record stays for the grades and history that point at it.
    stored = await User.get(world.teacher.id)
    assert stored is not None and stored.deleted_at is not None
    again = await client.delete(f"/users/{world.teacher.id}", headers=headers)
    assert again.status_code == 404


async def test_admin_cannot_delete_themselves(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    response = await client.delete(f"/users/{world.admin.id}", headers=login_as(world.admin))

    assert response.status_code == 409
    assert (await client.get("/users/me", headers=login_as(world.admin))).status_code == 200
