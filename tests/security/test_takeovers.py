"""Each finding of the account-takeover review, replayed over HTTP: every one must be refused.

An admin acts on a user only when every school of that user is one they administer; a
parent's schools are their children's. Only the owner changes a password or an email.
Nobody attaches a parent to a child but the parent, with a guardian code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from jose import jwt

from app.auth.models import Role, User
from app.core.config import Settings
from app.core.security import JWT_ALGORITHM, utcnow
from app.schools.models import GuardianLink, School, SchoolClass
from tests.auth.conftest import (
    NEW_PASSWORD,
    AppClient,
    bearer,
    login,
    login_pair,
    mailed_token,
    outbox,
    text_of,
)
from tests.conftest import DEFAULT_PASSWORD, UserFactory, World

LoginAs = Callable[[User], dict[str, str]]
NOT_FOUND = {"detail": "User not found"}


@pytest.fixture
async def school_b(world: World, make_user: UserFactory) -> dict[str, Any]:
    """Another school whose admin made it themselves, with a class and a student of its own."""
    school = School(name="School B")
    await school.insert()
    assert school.id is not None
    admin = await make_user(Role.admin, school_ids=[school.id])
    student = await make_user(Role.student, school_ids=[school.id])
    assert student.id is not None
    school.classes.append(SchoolClass(name="1B", student_ids=[student.id]))
    await school.save()
    return {"school": school, "admin": admin, "student": student}


# --- 1. an admin of one school takes over a parent of another ---------------------------


async def test_admin_cannot_attach_an_existing_parent_to_their_student(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, school_b: dict[str, Any]
) -> None:
    attach = await client.put(
        f"/students/{school_b['student'].id}/guardians/{world.parent.id}",
        headers=login_as(school_b["admin"]),
    )

    assert attach.status_code in (404, 405)
    link = {"parent_id": world.parent.id, "student_id": school_b["student"].id}
    assert await GuardianLink.find_one(link) is None
    headers = login_as(school_b["admin"])
    assert (await client.get(f"/users/{world.parent.id}", headers=headers)).status_code == 404
    taken = await client.patch(
        f"/users/{world.parent.id}", headers=headers, json={"password": NEW_PASSWORD}
    )
    assert taken.status_code in (404, 422)
    assert (await login(client, world.parent.email, NEW_PASSWORD)).status_code == 401
    assert (await client.delete(f"/users/{world.parent.id}", headers=headers)).status_code == 404


async def test_parent_with_children_in_two_schools_is_managed_by_neither_admin_alone(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, school_b: dict[str, Any]
) -> None:
    # The parent linked themselves (with a code) to a child in each school.
    await GuardianLink(parent_id=world.parent.id, student_id=school_b["student"].id).insert()

    for admin in (world.admin, school_b["admin"]):
        headers = login_as(admin)
        read = await client.get(f"/users/{world.parent.id}", headers=headers)
        renamed = await client.patch(
            f"/users/{world.parent.id}", headers=headers, json={"full_name": "Hijacked"}
        )
        deleted = await client.delete(f"/users/{world.parent.id}", headers=headers)
        assert (read.status_code, renamed.status_code, deleted.status_code) == (404, 404, 404)
        assert read.json() == renamed.json() == deleted.json() == NOT_FOUND


async def test_failed_member_lookups_do_not_tell_roles_apart(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, school_b: dict[str, Any]
) -> None:
    """Adding a parent, an unknown id or a user of another school to a roster answers alike."""
    school, class_1b = school_b["school"], school_b["school"].classes[0]
    headers = login_as(school_b["admin"])
    answers = []
    for user_id in (
        world.parent.id,
        "64b000000000000000000000",
        world.teacher.id,
        world.student.id,
    ):
        roster = await client.put(
            f"/schools/{school.id}/classes/{class_1b.id}/students/{user_id}", headers=headers
        )
        staff = await client.put(
            f"/schools/{school.id}/classes/{class_1b.id}/teachers/{user_id}",
            headers=headers,
            json={"subjects": ["math"]},
        )
        answers.append((roster.status_code, roster.json(), staff.status_code, staff.json()))

    assert len(set(map(repr, answers))) == 1, answers
    assert answers[0][0] == 404


async def test_guardian_code_can_be_mailed_to_the_parent_who_then_links_themselves(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, settings: Settings
) -> None:
    issued = await client.post(
        f"/students/{world.student.id}/guardian-codes",
        headers=login_as(world.admin),
        json={"email": "Mother@Example.org"},
    )

    assert issued.status_code == 201
    code = issued.json()["code"]
    mailed = [m for m in outbox(settings) if m["To"] == "mother@example.org"]
    assert len(mailed) == 1 and code in text_of(mailed[0])
    assert "http://testserver/" in text_of(mailed[0])
    assert await GuardianLink.find({"student_id": world.student.id}).count() == 1


# --- 2. a co-admin takes over an admin (or teacher) who belongs to more schools ------------


async def test_co_admin_of_one_school_cannot_touch_a_user_of_more_schools(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, make_user: UserFactory
) -> None:
    school_c = School(name="School C")
    await school_c.insert()
    assert school_c.id is not None and world.school.id is not None
    await User.get_motor_collection().update_many(
        {"_id": {"$in": [world.admin.id, world.teacher.id]}},
        {"$addToSet": {"school_ids": school_c.id}},
    )
    admin_of_c = await make_user(Role.admin, school_ids=[school_c.id])
    headers = login_as(admin_of_c)

    for target in (world.admin, world.teacher):
        read = await client.get(f"/users/{target.id}", headers=headers)
        renamed = await client.patch(
            f"/users/{target.id}", headers=headers, json={"full_name": "Hijacked"}
        )
        deleted = await client.delete(f"/users/{target.id}", headers=headers)
        assert (read.status_code, renamed.status_code, deleted.status_code) == (404, 404, 404)
    assert (await login(client, world.admin.email, DEFAULT_PASSWORD)).status_code == 200
    # The admin of both schools still manages the admin of one.
    read_back = await client.get(f"/users/{admin_of_c.id}", headers=login_as(world.admin))
    assert read_back.status_code == 200


# --- 3. nobody but the owner changes a password or an email ------------------------------


@pytest.mark.parametrize("change", [{"password": NEW_PASSWORD}, {"email": "new@example.org"}])
async def test_admin_patch_of_any_user_takes_no_password_or_email(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, change: dict[str, str]
) -> None:
    for target in (world.admin, world.teacher):
        response = await client.patch(
            f"/users/{target.id}", headers=login_as(world.admin), json=change
        )
        assert response.status_code == 422, response.text
    stored = await User.get(world.admin.id)
    assert stored is not None and stored.email == world.admin.email
    assert (await login(client, world.admin.email, NEW_PASSWORD)).status_code == 401


async def test_admin_can_mail_a_user_a_reset_link_instead(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, settings: Settings
) -> None:
    response = await client.post(
        f"/users/{world.teacher.id}/password-reset", headers=login_as(world.admin)
    )

    assert response.status_code == 202
    token = mailed_token(settings, to=world.teacher.email, path="reset-password")
    confirmed = await client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert confirmed.status_code == 204
    assert (await login(client, world.teacher.email, NEW_PASSWORD)).status_code == 200


# --- 5. reset tokens are bound to the address they were mailed to ------------------------


async def test_reset_token_dies_with_an_email_change(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    await client.post("/auth/password-reset/request", json={"email": world.parent.email})
    token = mailed_token(settings, to=world.parent.email, path="reset-password")
    pair = await login_pair(client, world.parent.email, DEFAULT_PASSWORD)

    changed = await client.patch(
        "/users/me",
        headers=bearer(pair),
        json={"email": "moved@example.org", "current_password": DEFAULT_PASSWORD},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["pending_email"] == "moved@example.org"
    # The new address gets its own link; once it is followed, the change is made.
    verify = mailed_token(settings, to="moved@example.org", path="verify-email")
    assert (await client.post("/auth/verify-email", json={"token": verify})).status_code == 204

    redeemed = await client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert redeemed.status_code == 400
    stored = await User.find_one({"email": "moved@example.org"})
    assert stored is not None and stored.email_verified is True


async def test_email_change_on_me_needs_the_current_password(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    wrong = await client.patch(
        "/users/me",
        headers=login_as(world.parent),
        json={"email": "moved@example.org", "current_password": "not-the-password"},
    )
    missing = await client.patch(
        "/users/me", headers=login_as(world.parent), json={"email": "moved@example.org"}
    )

    assert (wrong.status_code, missing.status_code) == (403, 422)
    stored = await User.get(world.parent.id)
    assert stored is not None and stored.email == world.parent.email


async def test_password_change_burns_pending_reset_tokens(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, settings: Settings
) -> None:
    await client.post("/auth/password-reset/request", json={"email": world.parent.email})
    token = mailed_token(settings, to=world.parent.email, path="reset-password")

    changed = await client.patch(
        "/users/me",
        headers=login_as(world.parent),
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 200

    redeemed = await client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": "third-password-x"}
    )
    assert redeemed.status_code == 400
    assert (await login(client, world.parent.email, NEW_PASSWORD)).status_code == 200


# --- 7. registration --------------------------------------------------------------------


def _registration(email: str, **fields: Any) -> dict[str, Any]:
    return {"email": email, "password": "long-enough-password", "full_name": "Anna", **fields}


async def test_registration_is_rate_limited_per_client_address(app_client: AppClient) -> None:
    async with app_client(register_rate_per_client="5/minute") as client:
        answers = [
            (await client.post("/auth/register", json=_registration(f"p{n}@example.org")))
            for n in range(6)
        ]

    assert [a.status_code for a in answers] == [201] * 5 + [429]
    assert int(answers[-1].headers["Retry-After"]) > 0


async def test_registration_is_rate_limited_per_email(app_client: AppClient) -> None:
    async with app_client(register_rate_per_email="3/hour") as client:
        answers = [
            (await client.post("/auth/register", json=_registration("Same@Example.org")))
            for _ in range(4)
        ]

    assert [a.status_code for a in answers] == [201, 409, 409, 429]


async def test_unverified_parent_logs_in_but_cannot_redeem_a_code_until_verified(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, settings: Settings
) -> None:
    registered = await client.post("/auth/register", json=_registration("new@example.org"))
    assert registered.status_code == 201
    pair = await login_pair(client, "new@example.org", "long-enough-password")
    issued = await client.post(
        f"/students/{world.student.id}/guardian-codes", headers=login_as(world.admin)
    )
    code = issued.json()["code"]

    refused = await client.post("/users/me/children", headers=bearer(pair), json={"code": code})
    assert refused.status_code == 403
    assert "verify" in refused.json()["detail"].lower()

    token = mailed_token(settings, to="new@example.org", path="verify-email")
    assert (await client.post("/auth/verify-email", json={"token": token})).status_code == 204
    linked = await client.post("/users/me/children", headers=bearer(pair), json={"code": code})
    assert linked.status_code == 201


@pytest.mark.parametrize(
    "name", ["Anna\x00", "Anna\u202eevil", "Anna\u2066x", "Line\nbreak", "Bell\x07"]
)
async def test_names_with_control_or_bidi_characters_are_refused(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, name: str
) -> None:
    registered = await client.post(
        "/auth/register", json=_registration("anna@example.org", full_name=name)
    )
    renamed = await client.patch(
        "/users/me", headers=login_as(world.parent), json={"full_name": name}
    )
    created = await client.post(
        "/users",
        headers=login_as(world.admin),
        json={**_registration("t@example.org", full_name=name), "role": "parent"},
    )

    assert (registered.status_code, renamed.status_code, created.status_code) == (422, 422, 422)


async def test_mail_to_an_unverified_address_does_not_repeat_the_name(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    lure = "Your child is absent, log in at http://evil.example"
    response = await client.post(
        "/auth/register", json=_registration("victim@example.org", full_name=lure)
    )
    assert response.status_code == 201

    (message,) = [m for m in outbox(settings) if m["To"] == "victim@example.org"]
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    for part in (text_of(message), str(html.get_content()), str(message["Subject"])):
        assert "evil.example" not in part and "absent" not in part


# --- 8. hardening -----------------------------------------------------------------------


async def test_access_token_without_exp_is_refused(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    claims = {"sub": str(world.parent.id), "type": "access", "iat": utcnow().timestamp()}
    forever = jwt.encode(claims, settings.secret, algorithm=JWT_ALGORITHM)

    response = await client.get("/users/me", headers={"Authorization": f"Bearer {forever}"})

    assert response.status_code == 401


async def test_clients_behind_a_trusted_proxy_get_their_own_rate_limit_bucket(
    app_client: AppClient,
) -> None:
    async def attempts(client: httpx.AsyncClient, address: str) -> list[int]:
        codes = []
        for n in range(3):
            response = await client.post(
                "/auth/login",
                data={"username": f"{address}-{n}@example.org", "password": "whatever-pass"},
                headers={"X-Forwarded-For": address},
            )
            codes.append(response.status_code)
        return codes

    # The test client connects from 127.0.0.1: trusted, each forwarded address is its own client.
    async with app_client(login_rate_per_client="2/minute", forwarded_allow_ips="127.0.0.1") as c:
        assert await attempts(c, "203.0.113.7") == [401, 401, 429]
        assert await attempts(c, "198.51.100.9") == [401, 401, 429]
    # Untrusted, the header is ignored and both share the connecting address's bucket.
    async with app_client(login_rate_per_client="2/minute", forwarded_allow_ips="10.9.9.9") as c:
        assert await attempts(c, "203.0.113.7") == [401, 401, 429]
        assert await attempts(c, "198.51.100.9") == [429, 429, 429]


async def test_a_stale_reset_token_after_expiry_is_refused(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    """Guard for the binding change: expiry still applies."""
    from app.auth.models import AccountToken

    await client.post("/auth/password-reset/request", json={"email": world.parent.email})
    token = mailed_token(settings, to=world.parent.email, path="reset-password")
    await AccountToken.get_motor_collection().update_many(
        {}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}}
    )

    redeemed = await client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert redeemed.status_code == 400
