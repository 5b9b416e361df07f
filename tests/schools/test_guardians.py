"""Guardian codes, parents' children, and admins linking parents directly."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId

from app.auth.models import Role, User
from app.core.security import as_utc, hash_token, utcnow
from app.schools.guardians import GUARDIAN_CODE_ALPHABET
from app.schools.models import GuardianCode, GuardianLink
from tests.conftest import UserFactory, World
from tests.schools.conftest import DriverLikeCollection

Headers = Callable[[str], dict[str, str]]
LoginAs = Callable[[User], dict[str, str]]


def codes_url(student_id: Any) -> str:
    return f"/students/{student_id}/guardian-codes"


async def issue(client: httpx.AsyncClient, world: World, as_role: Headers) -> str:
    response = await client.post(codes_url(world.student.id), headers=as_role("admin"))
    assert response.status_code == 201
    code: str = response.json()["code"]
    return code


@pytest.fixture
async def code(client: httpx.AsyncClient, world: World, as_role: Headers) -> str:
    """A guardian code the school's admin issued for the world's student."""
    return await issue(client, world, as_role)


async def redeem(client: httpx.AsyncClient, code: str, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/users/me/children", json={"code": code}, headers=headers)


async def links_of(student_id: Any) -> list[str]:
    return sorted(
        str(link.parent_id)
        for link in await GuardianLink.find({"student_id": student_id}).to_list()
    )


# Issuing codes


async def test_admin_issues_a_code_that_is_stored_only_as_a_hash(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    before = utcnow()
    response = await client.post(codes_url(world.student.id), headers=as_role("admin"))
    assert response.status_code == 201
    code = response.json()["code"]
    assert len(code) == 8 and set(code) <= set(GUARDIAN_CODE_ALPHABET)
    assert not set(code) & set("0O1IL")

    [stored] = await GuardianCode.find_all().to_list()
    assert stored.code_hash == hash_token(code)
    assert code not in str(stored.model_dump())
    expires = as_utc(stored.expires_at)
    assert (
        timedelta(days=7) - timedelta(seconds=5) < expires - before <= timedelta(days=7, seconds=5)
    )
    assert response.json()["expires_at"].startswith(expires.date().isoformat())


async def test_codes_differ(client: httpx.AsyncClient, world: World, as_role: Headers) -> None:
    codes = {await issue(client, world, as_role) for _ in range(5)}
    assert len(codes) == 5


async def test_the_childs_teacher_issues_a_code(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    response = await client.post(codes_url(world.student.id), headers=as_role("teacher"))
    assert response.status_code == 201


async def test_a_teacher_issues_codes_only_for_their_own_students(
    client: httpx.AsyncClient, world: World, as_role: Headers, make_user: UserFactory
) -> None:
    assert world.school.id is not None
    # Same school, but not in any class this teacher teaches.
    pupil = await make_user(Role.student, school_ids=[world.school.id])
    response = await client.post(codes_url(pupil.id), headers=as_role("teacher"))
    assert response.status_code == 403
    assert await GuardianCode.find_all().count() == 0


@pytest.mark.parametrize("who", ["student", "parent", "foreign_admin"])
async def test_others_cannot_issue_codes(
    client: httpx.AsyncClient, world: World, as_role: Headers, who: str
) -> None:
    response = await client.post(codes_url(world.student.id), headers=as_role(who))
    assert response.status_code == 403
    assert await GuardianCode.find_all().count() == 0


async def test_codes_for_unknown_or_non_students_are_404(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    for student_id in ("junk", ObjectId(), world.parent.id, world.teacher.id):
        response = await client.post(codes_url(student_id), headers=as_role("admin"))
        assert response.status_code == 404, student_id


# Redeeming codes


async def test_parent_redeems_a_code_and_is_linked(
    client: httpx.AsyncClient,
    world: World,
    make_user: UserFactory,
    login_as: LoginAs,
    code: str,
) -> None:
    mother = await make_user(Role.parent)
    # People type codes in lower case with stray spaces.
    typed = f"  {code[:4].lower()} {code[4:]} "
    response = await client.post(
        "/users/me/children", json={"code": typed}, headers=login_as(mother)
    )
    assert response.status_code == 201
    child = response.json()
    assert child["id"] == str(world.student.id)
    assert child["full_name"] == world.student.full_name
    assert child["classes"] == [
        {
            "school_id": str(world.school.id),
            "school_name": "School 1",
            "class_id": str(world.class_5a.id),
            "class_name": "5A",
        }
    ]
    assert str(mother.id) in await links_of(world.student.id)

    [stored] = await GuardianCode.find_all().to_list()
    assert stored.redeemed_by == mother.id and stored.redeemed_at is not None

    # The link opens the child's class to the parent.
    class_url = f"/schools/{world.school.id}/classes/{world.class_5a.id}"
    assert (await client.get(class_url, headers=login_as(mother))).status_code == 200


async def test_a_code_is_single_use(
    client: httpx.AsyncClient,
    world: World,
    make_user: UserFactory,
    login_as: LoginAs,
    code: str,
) -> None:
    first, second = await make_user(Role.parent), await make_user(Role.parent)
    ok = await redeem(client, code, login_as(first))
    assert ok.status_code == 201
    again = await redeem(client, code, login_as(second))
    assert again.status_code == 400
    assert "used" in again.json()["detail"]
    assert str(second.id) not in await links_of(world.student.id)
    # Also for the parent who already spent it.
    repeat = await redeem(client, code, login_as(first))
    assert repeat.status_code == 400


async def test_an_expired_code_is_refused(
    client: httpx.AsyncClient,
    world: World,
    make_user: UserFactory,
    login_as: LoginAs,
    code: str,
) -> None:
    await GuardianCode.get_motor_collection().update_one(
        {"code_hash": hash_token(code)}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}}
    )
    parent = await make_user(Role.parent)
    response = await redeem(client, code, login_as(parent))
    assert response.status_code == 400
    assert await links_of(world.student.id) == [str(world.parent.id)]


async def test_a_code_just_short_of_expiry_still_works(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    login_as: LoginAs,
    code: str,
) -> None:
    await GuardianCode.get_motor_collection().update_one(
        {"code_hash": hash_token(code)}, {"$set": {"expires_at": utcnow() + timedelta(minutes=1)}}
    )
    parent = await make_user(Role.parent)
    response = await redeem(client, code, login_as(parent))
    assert response.status_code == 201


async def test_two_parents_racing_for_one_code_cannot_both_win(
    client: httpx.AsyncClient,
    world: World,
    make_user: UserFactory,
    login_as: LoginAs,
    monkeypatch: pytest.MonkeyPatch,
    code: str,
) -> None:
    first, second = await make_user(Role.parent), await make_user(Role.parent)
    collection = DriverLikeCollection(GuardianCode.get_motor_collection())
    monkeypatch.setattr(GuardianCode, "get_motor_collection", classmethod(lambda cls: collection))

    responses = await asyncio.gather(
        redeem(client, code, login_as(first)),
        redeem(client, code, login_as(second)),
    )
    assert len(collection.arrived) == 2
    assert sorted(r.status_code for r in responses) == [201, 400]
    winner = first if responses[0].status_code == 201 else second
    assert await links_of(world.student.id) == sorted([str(world.parent.id), str(winner.id)])


@pytest.mark.parametrize("wrong", ["WRONG123", "ABCDEFGH", "ABC", "O0O0I1L1", "!!!!!!!!", "A" * 64])
@pytest.mark.usefixtures("code")
async def test_wrong_codes_are_400(client: httpx.AsyncClient, as_role: Headers, wrong: str) -> None:
    response = await redeem(client, wrong, as_role("parent"))
    assert response.status_code == 400
    assert response.json()["detail"] == "Guardian code is wrong, already used or expired"


@pytest.mark.parametrize(
    "body", [{}, {"code": ""}, {"code": 12345678}, {"code": "A" * 65}, {"code": "X", "child": 1}]
)
async def test_malformed_redeem_bodies_are_422(
    client: httpx.AsyncClient, world: World, as_role: Headers, body: dict[str, Any]
) -> None:
    response = await client.post("/users/me/children", json=body, headers=as_role("parent"))
    assert response.status_code == 422


@pytest.mark.parametrize("who", ["admin", "teacher", "student"])
async def test_only_parents_redeem_codes(
    client: httpx.AsyncClient, as_role: Headers, who: str, code: str
) -> None:
    response = await redeem(client, code, as_role(who))
    assert response.status_code == 403
    [stored] = await GuardianCode.find_all().to_list()
    assert stored.redeemed_at is None


async def test_redeeming_for_an_already_linked_child_is_fine(
    client: httpx.AsyncClient, world: World, as_role: Headers, code: str
) -> None:
    response = await redeem(client, code, as_role("parent"))
    assert response.status_code == 201
    assert await links_of(world.student.id) == [str(world.parent.id)]


async def test_guessing_codes_is_rate_limited(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    statuses = [
        (
            await client.post(
                "/users/me/children", json={"code": "WRONGWRG"}, headers=as_role("parent")
            )
        ).status_code
        for _ in range(11)
    ]
    assert statuses == [400] * 10 + [429]


# Parents' own children


async def test_parent_lists_their_children_newest_link_first(
    client: httpx.AsyncClient,
    world: World,
    as_role: Headers,
    make_user: UserFactory,
) -> None:
    sibling = await make_user(Role.student, full_name="Younger Sibling")
    assert world.parent.id and sibling.id
    await GuardianLink(parent_id=world.parent.id, student_id=sibling.id).insert()

    response = await client.get("/users/me/children", headers=as_role("parent"))
    assert response.status_code == 200
    items = response.json()["items"]
    assert [c["id"] for c in items] == [str(sibling.id), str(world.student.id)]
    assert items[0]["classes"] == []
    assert items[1]["classes"][0]["class_name"] == "5A"

    first = await client.get("/users/me/children", params={"limit": 1}, headers=as_role("parent"))
    assert [c["id"] for c in first.json()["items"]] == [str(sibling.id)]
    rest = await client.get(
        "/users/me/children",
        params={"limit": 1, "cursor": first.json()["next_cursor"]},
        headers=as_role("parent"),
    )
    assert [c["id"] for c in rest.json()["items"]] == [str(world.student.id)]
    assert rest.json()["next_cursor"] is None


async def test_other_parents_children_are_not_listed(
    client: httpx.AsyncClient, world: World, make_user: UserFactory, login_as: LoginAs
) -> None:
    stranger = await make_user(Role.parent)
    response = await client.get("/users/me/children", headers=login_as(stranger))
    assert response.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("who", ["admin", "teacher", "student"])
async def test_only_parents_have_children_routes(
    client: httpx.AsyncClient, world: World, as_role: Headers, who: str
) -> None:
    assert (await client.get("/users/me/children", headers=as_role(who))).status_code == 403
    removed = await client.delete(f"/users/me/children/{world.student.id}", headers=as_role(who))
    assert removed.status_code == 403
    assert await links_of(world.student.id) == [str(world.parent.id)]


async def test_parent_unlinks_a_child(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    url = f"/users/me/children/{world.student.id}"
    assert (await client.delete(url, headers=as_role("parent"))).status_code == 204
    assert await links_of(world.student.id) == []
    assert (await client.delete(url, headers=as_role("parent"))).status_code == 404
    listed = await client.get("/users/me/children", headers=as_role("parent"))
    assert listed.json()["items"] == []
    # And with it the view into the child's class.
    class_url = f"/schools/{world.school.id}/classes/{world.class_5a.id}"
    assert (await client.get(class_url, headers=as_role("parent"))).status_code == 403


async def test_unlinking_a_child_that_is_not_yours_is_404(
    client: httpx.AsyncClient, world: World, make_user: UserFactory, login_as: LoginAs
) -> None:
    stranger = await make_user(Role.parent)
    for student_id in (world.student.id, "not-an-id"):
        response = await client.delete(
            f"/users/me/children/{student_id}", headers=login_as(stranger)
        )
        assert response.status_code == 404
    assert await links_of(world.student.id) == [str(world.parent.id)]


# Admins linking directly


def guardian_url(student_id: Any, parent_id: Any) -> str:
    return f"/students/{student_id}/guardians/{parent_id}"


async def test_admin_unlinks_a_parent_idempotently(
    client: httpx.AsyncClient, world: World, as_role: Headers, login_as: LoginAs
) -> None:
    url = guardian_url(world.student.id, world.parent.id)
    for _ in range(2):
        assert (await client.delete(url, headers=as_role("admin"))).status_code == 204
    assert await links_of(world.student.id) == []
    children = await client.get("/users/me/children", headers=login_as(world.parent))
    assert children.json()["items"] == []


async def test_nobody_links_a_parent_directly(
    client: httpx.AsyncClient, world: World, as_role: Headers, make_user: UserFactory
) -> None:
    """Only the parent's own code links them: there is no route that attaches an account."""
    newcomer = await make_user(Role.parent)
    response = await client.put(
        guardian_url(world.student.id, newcomer.id), headers=as_role("admin")
    )
    assert response.status_code == 405
    assert await links_of(world.student.id) == [str(world.parent.id)]


async def test_admin_unlink_of_unknown_ids_is_404(
    client: httpx.AsyncClient, world: World, as_role: Headers
) -> None:
    for student_id in ("bad", str(ObjectId())):
        response = await client.delete(
            guardian_url(student_id, world.parent.id), headers=as_role("admin")
        )
        assert response.status_code == 404
    malformed = await client.delete(guardian_url(world.student.id, "bad"), headers=as_role("admin"))
    assert malformed.status_code == 404
    assert await links_of(world.student.id) == [str(world.parent.id)]


@pytest.mark.parametrize("who", ["teacher", "student", "parent", "foreign_admin"])
async def test_only_the_students_admins_unlink_directly(
    client: httpx.AsyncClient, world: World, as_role: Headers, who: str
) -> None:
    response = await client.delete(
        guardian_url(world.student.id, world.parent.id), headers=as_role(who)
    )
    assert response.status_code == 403
    assert await links_of(world.student.id) == [str(world.parent.id)]
