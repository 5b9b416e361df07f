"""Nobody locks anyone else out (issue 18, finding 5): failures count per account and
client address, a correct password never counts, and reset mail is capped per account on
mails sent, not on requests answered."""

from __future__ import annotations

from tests.auth.conftest import (
    NEW_PASSWORD,
    AppClient,
)
from tests.conftest import DEFAULT_PASSWORD, UserFactory
from tests.security.mail import emails_to, link_in

# --- 5. nobody locks anyone else out -----------------------------------------------------


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_wrong_passwords_from_one_address_do_not_lock_out_another(
    app_client: AppClient, make_user: UserFactory
) -> None:
    async with app_client(
        login_rate_per_account="10/minute", forwarded_allow_ips="127.0.0.1"
    ) as client:
        admin = await make_user("admin", email="admin@demo.example.org")
        typed = admin.email.upper()
        attacker, owner = _from("203.0.113.66"), _from("198.51.100.7")

        def form(password: str) -> dict[str, str]:
            return {"username": typed, "password": password}

        wrong = [
            (await client.post("/auth/login", data=form("guess-guess"), headers=attacker))
            for _ in range(11)
        ]
        right = await client.post("/auth/login", data=form(DEFAULT_PASSWORD), headers=owner)

    assert [w.status_code for w in wrong] == [401] * 10 + [429]
    assert right.status_code == 200


async def test_a_correct_password_is_never_counted(
    app_client: AppClient, make_user: UserFactory
) -> None:
    async with app_client(
        login_rate_per_account="3/minute", forwarded_allow_ips="127.0.0.1"
    ) as client:
        parent = await make_user("parent")
        me = _from("198.51.100.7")

        async def attempt(password: str) -> int:
            data = {"username": parent.email, "password": password}
            return (await client.post("/auth/login", data=data, headers=me)).status_code

        codes = [await attempt(DEFAULT_PASSWORD) for _ in range(4)]
        codes += [await attempt("typo-typo") for _ in range(2)]
        codes += [await attempt(DEFAULT_PASSWORD)]

    assert codes == [200] * 4 + [401, 401, 200]


async def test_reset_requests_from_strangers_do_not_block_the_owners_reset(
    app_client: AppClient, make_user: UserFactory
) -> None:
    async with app_client(password_reset_rate="5/hour", forwarded_allow_ips="127.0.0.1") as client:
        parent = await make_user("parent")
        flood = [
            await client.post(
                "/auth/password-reset/request",
                json={"email": parent.email},
                headers=_from(f"203.0.113.{n}"),
            )
            for n in range(1, 6)
        ]
        own = await client.post(
            "/auth/password-reset/request",
            json={"email": parent.email},
            headers=_from("198.51.100.7"),
        )
        resets = [e for e in await emails_to(parent.email) if "reset-password" in e.text]
        newest = link_in(max(resets, key=lambda e: e.created_at), "reset-password")
        confirmed = await client.post(
            "/auth/password-reset/confirm", json={"token": newest, "new_password": NEW_PASSWORD}
        )

    assert [f.status_code for f in flood] == [202] * 5
    assert own.status_code == 202
    # The mailbox got a few links, not one per request, and the newest one works.
    assert 1 <= len(resets) < 6
    assert confirmed.status_code == 204


async def test_reset_requests_from_one_address_for_one_account_are_capped(
    app_client: AppClient, make_user: UserFactory
) -> None:
    async with app_client(password_reset_rate="2/hour", forwarded_allow_ips="127.0.0.1") as client:
        parent = await make_user("parent")
        codes = [
            (
                await client.post(
                    "/auth/password-reset/request",
                    json={"email": parent.email},
                    headers=_from("203.0.113.9"),
                )
            ).status_code
            for _ in range(3)
        ]

    assert codes == [202, 202, 429]
