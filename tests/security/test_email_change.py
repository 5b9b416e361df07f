"""An email change waits for the new mailbox (issue 18, findings 2 and 3): until it is
confirmed the old address is the login and gets every mail; once confirmed, every link
mailed to the old address stops working."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from jose import jwt

from app.announcements.links import ack_url
from app.auth.models import User
from app.core.config import Settings
from app.core.security import JWT_ALGORITHM, utcnow
from app.events.links import answer_url
from app.events.models import Answer
from app.schools.guardians import link_guardian
from tests.auth.conftest import (
    NEW_PASSWORD,
    login,
    mailed_token,
    outbox,
    text_of,
)
from tests.conftest import DEFAULT_PASSWORD, UserFactory, World
from tests.events.helpers import create_event, meeting
from tests.grades.helpers import posted
from tests.pages import english_words
from tests.security.mail import emails_to, link_in

LoginAs = Callable[[User], dict[str, str]]


NEW_ADDRESS = "moved.parent@example.net"


async def _ask_for_new_email(
    client: httpx.AsyncClient, login_as: LoginAs, user: User, address: str = NEW_ADDRESS
) -> httpx.Response:
    return await client.patch(
        "/users/me",
        headers=login_as(user),
        json={"email": address, "current_password": DEFAULT_PASSWORD},
    )


# --- 2. an email change is pending until the new mailbox confirms it ----------------------


async def test_an_email_change_waits_for_the_new_mailbox(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, settings: Settings
) -> None:
    old = world.parent.email
    assert world.parent.id is not None and world.student.id is not None
    await link_guardian(parent_id=world.parent.id, student_id=world.student.id)

    asked = await _ask_for_new_email(client, login_as, world.parent)

    assert asked.status_code == 200, asked.text
    assert asked.json()["email"] == old
    assert asked.json()["pending_email"] == NEW_ADDRESS
    # The old address is still the login; the new one is not yet.
    assert (await login(client, old, DEFAULT_PASSWORD)).status_code == 200
    assert (await login(client, NEW_ADDRESS, DEFAULT_PASSWORD)).status_code == 401
    # The old mailbox is told, without the new address in full.
    (notice,) = [m for m in outbox(settings) if m["To"] == old]
    told = text_of(notice)
    assert NEW_ADDRESS not in told and NEW_ADDRESS not in str(notice.get_body(("html",)))
    assert "@example.net" in told
    # The next grade notice, its value and comment, goes to the old address only.
    await posted(client, login_as(world.teacher), world, value=2, comment="Private remark")
    assert [e for e in await emails_to(old) if "Private remark" in e.text]
    assert all("Private remark" not in e.text for e in await emails_to(NEW_ADDRESS))
    # A reset asked for the new address mails nothing; for the old one, the old mailbox.
    await client.post("/auth/password-reset/request", json={"email": NEW_ADDRESS})
    await client.post("/auth/password-reset/request", json={"email": old})
    assert all("reset-password" not in e.text for e in await emails_to(NEW_ADDRESS))
    assert mailed_token(settings, to=old, path="reset-password")

    # Confirming from the new mailbox makes it the login.
    confirm = mailed_token(settings, to=NEW_ADDRESS, path="verify-email")
    assert (await client.post("/auth/verify-email", json={"token": confirm})).status_code == 204
    assert (await login(client, NEW_ADDRESS, DEFAULT_PASSWORD)).status_code == 200
    assert (await login(client, old, DEFAULT_PASSWORD)).status_code == 401
    me = (await client.get("/users/me", headers=login_as(world.parent))).json()
    assert (me["email"], me["email_verified"], me["pending_email"]) == (NEW_ADDRESS, True, None)


async def test_a_confirmation_link_for_an_address_taken_meanwhile_does_not_steal_it(
    client: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    settings: Settings,
    make_user: UserFactory,
) -> None:
    await _ask_for_new_email(client, login_as, world.parent)
    confirm = mailed_token(settings, to=NEW_ADDRESS, path="verify-email")
    await make_user("parent", email=NEW_ADDRESS)

    answer = await client.post("/auth/verify-email", json={"token": confirm})

    assert answer.status_code == 409
    stored = await User.get(world.parent.id)
    assert stored is not None and stored.email == world.parent.email


# --- 3. links mailed to the old address die when the new one is confirmed ----------------


async def test_links_mailed_to_the_old_address_stop_working_once_the_change_is_confirmed(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    settings: Settings,
) -> None:
    old = world.parent.email
    assert world.parent.id is not None and world.student.id is not None
    await link_guardian(parent_id=world.parent.id, student_id=world.student.id)
    await posted(client, login_as(world.teacher), world, value=5)
    (grade_mail,) = await emails_to(old)
    preferences, unsubscribe = (
        link_in(grade_mail, "preferences"),
        link_in(grade_mail, "unsubscribe"),
    )
    await client.post("/auth/password-reset/request", json={"email": old})
    reset = mailed_token(settings, to=old, path="reset-password")
    # Before the change is confirmed the old mailbox's links still work.
    assert (await site.get("/preferences", params={"token": preferences})).status_code == 200

    await _ask_for_new_email(client, login_as, world.parent)
    confirm = mailed_token(settings, to=NEW_ADDRESS, path="verify-email")
    assert (await client.post("/auth/verify-email", json={"token": confirm})).status_code == 204

    assert (await site.get("/preferences", params={"token": preferences})).status_code != 200
    everything_off = {"token": preferences, "email_grades": "off", "locale": "en"}
    assert (await site.post("/preferences", data=everything_off)).status_code != 200
    one_click = await site.post(
        "/unsubscribe",
        params={"token": unsubscribe},
        data={"List-Unsubscribe": "One-Click"},
    )
    assert one_click.status_code != 200
    redeemed = await client.post(
        "/auth/password-reset/confirm", json={"token": reset, "new_password": NEW_PASSWORD}
    )
    assert redeemed.status_code == 400
    mine = await client.get("/users/me/preferences", headers=login_as(world.parent))
    assert mine.json()["email"]["grades"] == "immediate"


async def test_a_new_password_withdraws_a_pending_change(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, settings: Settings
) -> None:
    """Whoever asked for the change knew the password; the owner changing it ends that."""
    await _ask_for_new_email(client, login_as, world.parent)
    confirm = mailed_token(settings, to=NEW_ADDRESS, path="verify-email")

    changed = await client.patch(
        "/users/me",
        headers=login_as(world.parent),
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
    )

    assert changed.status_code == 200 and changed.json()["pending_email"] is None
    assert (await client.post("/auth/verify-email", json={"token": confirm})).status_code == 400
    assert (await login(client, world.parent.email, NEW_PASSWORD)).status_code == 200


async def test_a_russian_reader_gets_both_change_mails_in_russian(
    client: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    settings: Settings,
    make_user: UserFactory,
) -> None:
    parent = await make_user("parent", locale="ru", full_name="Мария Иванова")

    await _ask_for_new_email(client, login_as, parent)

    mails = [m for m in outbox(settings) if m["To"] in (parent.email, NEW_ADDRESS)]
    assert len(mails) == 2
    for mail in mails:
        html = mail.get_body(preferencelist=("html",))
        assert html is not None
        assert english_words(str(html.get_content())) == []
        assert english_words(text_of(mail)) == []


async def test_email_change_requests_are_capped_since_each_mails_two_addresses(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    codes = [
        (await _ask_for_new_email(client, login_as, world.parent, f"n{n}@example.net")).status_code
        for n in range(4)
    ]

    assert codes == [200, 200, 200, 429]


async def test_a_link_signed_before_links_carried_their_time_dies_with_a_change_too(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    settings: Settings,
) -> None:
    """Links mailed by the version before this one have no `iat`: good until the address
    changes, then as dead as the rest."""
    claims = {
        "sub": str(world.parent.id),
        "type": "page:preferences",
        "exp": int((utcnow() + timedelta(days=30)).timestamp()),
    }
    legacy = jwt.encode(claims, settings.secret, algorithm=JWT_ALGORITHM)
    assert (await site.get("/preferences", params={"token": legacy})).status_code == 200

    await _ask_for_new_email(client, login_as, world.parent)
    confirm = mailed_token(settings, to=NEW_ADDRESS, path="verify-email")
    assert (await client.post("/auth/verify-email", json={"token": confirm})).status_code == 204

    assert (await site.get("/preferences", params={"token": legacy})).status_code != 200


async def test_event_answer_and_acknowledgement_links_die_with_a_confirmed_change(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    world: World,
    login_as: LoginAs,
    settings: Settings,
) -> None:
    """The producers built after finding 3 mail links of their own: a one-click event
    answer and an "I have read this". The old mailbox's copies end with the rest."""
    assert world.parent.id is not None and world.student.id is not None
    await link_guardian(parent_id=world.parent.id, student_id=world.student.id)
    event = await create_event(client, login_as(world.admin), meeting(world))
    notice = {"school_id": str(world.school.id), "title": "Trip", "body": "Sign, please"}
    acked = await client.post(
        "/announcements",
        headers=login_as(world.admin),
        json={**notice, "class_ids": [str(world.class_5a.id)], "requires_ack": True},
    )
    assert acked.status_code == 202, acked.text
    going = answer_url(
        settings=settings, user_id=world.parent.id, event_id=event["id"], answer=Answer.yes
    )
    read = ack_url(settings=settings, user_id=world.parent.id, announcement_id=acked.json()["id"])
    pages = [urlsplit(going), urlsplit(read)]
    for link in pages:
        assert (await site.get(f"{link.path}?{link.query}")).status_code == 200

    await _ask_for_new_email(client, login_as, world.parent)
    confirm = mailed_token(settings, to=NEW_ADDRESS, path="verify-email")
    assert (await client.post("/auth/verify-email", json={"token": confirm})).status_code == 204

    for link in pages:
        token = link.query.removeprefix("token=")
        assert (await site.get(f"{link.path}?{link.query}")).status_code != 200
        assert (await site.post(link.path, data={"token": token})).status_code != 200
    admin = login_as(world.admin)
    rsvps = await client.get(f"/events/{event['id']}/rsvps", headers=admin)
    assert rsvps.json()["items"] == []
    acks = await client.get(f"/announcements/{acked.json()['id']}/acks", headers=admin)
    assert acks.json()["acknowledged"] == []
