"""A school's subject list: names per language for readers, codes for everything stored."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from app.auth.models import Role, User
from app.schools.models import School
from app.subjects.service import note_subjects, subject_names
from tests.conftest import UserFactory, World
from tests.grades.helpers import posted

Login = Callable[[User], dict[str, str]]
MATHS = {"code": "math", "names": {"ru": "Математика", "en": "Mathematics"}}


def path(world: World) -> str:
    return f"/schools/{world.school.id}/subjects"


async def test_the_admin_names_subjects_and_every_member_reads_them(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    put = await client.put(
        path(world),
        json={"subjects": [MATHS, {"code": "Literature", "names": {"ru": "Литература"}}]},
        headers=login_as(world.admin),
    )
    assert put.status_code == 200, put.text
    expected = {
        "subjects": [
            {"code": "Literature", "names": {"ru": "Литература"}},
            {"code": "math", "names": {"ru": "Математика", "en": "Mathematics"}},
        ]
    }
    assert put.json() == expected
    for reader in (world.admin, world.teacher, world.student, world.parent):
        got = await client.get(path(world), headers=login_as(reader))
        assert got.status_code == 200, (reader.role, got.text)
        assert got.json() == expected

    assert world.school.id is not None
    names = await subject_names(world.school.id)
    assert names.name("MATH ", "ru") == "Математика"
    assert names.name("math", "en") == "Mathematics"
    assert names.name("literature", "en") == "Литература"  # no English name: the Russian one
    assert names.name("physics", "ru") == "physics"  # unknown: as written


async def test_a_put_replaces_the_list_and_renames_in_place(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    admin = login_as(world.admin)
    await client.put(path(world), json={"subjects": [MATHS, {"code": "art"}]}, headers=admin)
    renamed = {"code": "Math", "names": {"ru": "Алгебра"}}
    put = await client.put(path(world), json={"subjects": [renamed]}, headers=admin)
    assert put.status_code == 200, put.text
    assert put.json() == {"subjects": [renamed]}


async def test_codes_a_school_first_uses_join_its_list_once_and_keep_their_names(
    world: World,
) -> None:
    school_id = world.school.id
    assert school_id is not None
    await asyncio.gather(
        *(note_subjects(school_id, ["Physics", " physics", "math"]) for _ in range(5))
    )
    names = await subject_names(school_id)
    assert names.names == {"physics": {}, "math": {}}
    assert names.name("physics", "ru") == "physics"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"subjects": [MATHS, {"code": " MATH"}]}, "listed twice"),
        ({"subjects": [{"code": ""}]}, "code"),
        ({"subjects": [{"code": "math", "names": {"de": "Mathe"}}]}, "de"),
        ({"subjects": [{"code": "math\u202e"}]}, "text-direction"),
        ({"subjects": [{"code": "math", "names": {"ru": "x" * 121}}]}, "ru"),
    ],
)
async def test_a_bad_list_is_refused_saying_what_is_wrong(
    client: httpx.AsyncClient, world: World, login_as: Login, body: dict[str, object], says: str
) -> None:
    put = await client.put(path(world), json=body, headers=login_as(world.admin))
    assert put.status_code == 422, put.text
    assert says in put.text


async def test_only_the_schools_admin_changes_the_list_and_only_members_read_it(
    client: httpx.AsyncClient, world: World, login_as: Login, make_user: UserFactory
) -> None:
    other = School(name="School 2", timezone="Europe/Moscow")
    await other.insert()
    assert other.id is not None
    other_admin = await make_user(Role.admin, school_ids=[other.id])
    outsider_parent = await make_user(Role.parent)
    for user in (world.teacher, world.parent, other_admin):
        put = await client.put(path(world), json={"subjects": [MATHS]}, headers=login_as(user))
        assert put.status_code == 403, (user.role, put.text)
    for user in (other_admin, outsider_parent):
        got = await client.get(path(world), headers=login_as(user))
        assert got.status_code == 403, (user.role, got.text)
    assert (await client.get(path(world))).status_code == 401
    missing = await client.get(
        "/schools/0123456789abcdef01234567/subjects", headers=login_as(world.admin)
    )
    assert missing.status_code == 404


async def test_a_schools_first_grade_in_a_subject_adds_it_for_the_admin_to_name(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    assert (await client.get(path(world), headers=login_as(world.admin))).json() == {"subjects": []}
    await posted(client, login_as(world.teacher), world, value=5)
    listed = await client.get(path(world), headers=login_as(world.admin))
    assert listed.json() == {"subjects": [{"code": "math", "names": {}}]}
