"""One-click unsubscribe (RFC 8058) from the link in a received email."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from jose import jwt

from app.auth.models import Role, User
from app.core.security import JWT_ALGORITHM, create_access_token
from app.notifications.service import subscribe_guardian
from app.notifications.topics import topics as registry
from tests.conftest import TEST_SECRET, UserFactory, World
from tests.delivery.conftest import CountingSmtpServer
from tests.delivery.helpers import (
    only_message_to,
    outbox_of,
    received_by,
    text_of,
    token_of,
    unsubscribe_link,
)
from tests.grades.helpers import posted


def every_topic(**changed: str) -> dict[str, str]:
    """Every registered topic's email frequency at its default, but for the changed ones."""
    return {t.name: t.default_email.value for t in registry.all()} | changed


Login = Callable[[User], dict[str, str]]
ONE_CLICK = {"List-Unsubscribe": "One-Click"}
INVALID = "This link is invalid or incomplete"


async def grade_email_token(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp: CountingSmtpServer
) -> str:
    """Subscribe the world's parent, post a grade, and return the token from their email."""
    assert world.parent.id and world.student.id
    await subscribe_guardian(parent_id=world.parent.id, student_id=world.student.id)
    await posted(client, login_as(world.teacher), world)
    return token_of(unsubscribe_link(only_message_to(smtp, world.parent.email)))


async def email_preferences(client: httpx.AsyncClient, user: User, login_as: Login) -> Any:
    response = await client.get("/users/me/preferences", headers=login_as(user))
    assert response.status_code == 200, response.text
    return response.json()["email"]


def resign(token: str, **changes: Any) -> str:
    """The token's claims with `changes`, keeping the original signature."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


async def test_get_explains_and_offers_a_button_without_changing_anything(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    token = await grade_email_token(client, world, login_as, smtp_server)

    response = await client.get("/unsubscribe", params={"token": token})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "Stop these emails?" in page and "Grades by email" in page
    form = re.search(
        r'<form method="post" action="/unsubscribe\?token=([^&"]+)&amp;lang=en">', page
    )
    assert form and form.group(1) == token
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in page
    assert "Manage notifications" in page
    assert await email_preferences(client, world.parent, login_as) == every_topic()


async def test_one_click_post_turns_that_topics_email_off(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    token = await grade_email_token(client, world, login_as, smtp_server)

    # What a mail client sends for a one-click link: no session, just the link and the body.
    response = await client.post("/unsubscribe", params={"token": token}, data=ONE_CLICK)

    assert response.status_code == 200, response.text
    assert "You are unsubscribed" in response.text
    assert await email_preferences(client, world.parent, login_as) == every_topic(grades="off")

    # The next grade: no email for the parent, but the in-app notification is still there.
    await posted(client, login_as(world.teacher), world, value=3)
    assert len(received_by(smtp_server, world.parent.email)) == 1
    assert len(await outbox_of(world.parent)) == 1
    assert len(received_by(smtp_server, world.student.email)) == 2
    inbox = await client.get("/notifications", headers=login_as(world.parent))
    assert [n["topic"] for n in inbox.json()["items"]] == ["grades", "grades"]

    # Clicking again is harmless.
    again = await client.post("/unsubscribe", params={"token": token}, data=ONE_CLICK)
    assert again.status_code == 200


async def test_one_click_accepts_a_multipart_body(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    token = await grade_email_token(client, world, login_as, smtp_server)

    response = await client.post(
        "/unsubscribe", params={"token": token}, files={"List-Unsubscribe": (None, "One-Click")}
    )

    assert response.status_code == 200, response.text
    assert (await email_preferences(client, world.parent, login_as))["grades"] == "off"


async def test_an_announcement_link_turns_off_announcements_only(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    response = await client.post(
        "/announcements",
        json={"school_id": str(world.school.id), "title": "Fair", "body": "On Sunday"},
        headers=login_as(world.admin),
    )
    assert response.status_code == 202, response.text
    message = only_message_to(smtp_server, world.teacher.email)
    link = unsubscribe_link(message)
    assert link in text_of(message)

    page = await client.get("/unsubscribe", params={"token": token_of(link)})
    assert "Announcements by email" in page.text
    response = await client.post("/unsubscribe", params={"token": token_of(link)}, data=ONE_CLICK)

    assert response.status_code == 200
    assert await email_preferences(client, world.teacher, login_as) == every_topic(
        announcements="off"
    )
    assert (await email_preferences(client, world.student, login_as))["announcements"] == (
        "immediate"
    )


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_tampered_token_is_refused(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    smtp_server: CountingSmtpServer,
    method: str,
) -> None:
    token = await grade_email_token(client, world, login_as, smtp_server)
    victim = await make_user(Role.parent)
    header, payload, signature = token.split(".")
    middle = len(signature) // 2
    flipped = (
        signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1 :]
    )
    forgeries = [
        f"{header}.{payload}.{flipped}",
        # Someone else's account, or another topic, under the parent's signature.
        resign(token, sub=str(victim.id)),
        resign(token, topics=["grades", "announcements"]),
        # Signed, but not by us.
        jwt.encode(
            {"sub": str(world.parent.id), "topics": ["grades"], "type": "unsubscribe"},
            "another-secret-that-is-long-enough-too",
            algorithm=JWT_ALGORITHM,
        ),
        # Our signature, but a login token, not an unsubscribe link.
        create_access_token(user_id=str(world.parent.id), secret=TEST_SECRET, minutes=5)[0],
    ]
    for forged in forgeries:
        response = await client.request(
            method, "/unsubscribe", params={"token": forged}, data=ONE_CLICK
        )
        assert response.status_code == 400, forged
        assert INVALID in response.text

    for user in (world.parent, victim):
        assert await email_preferences(client, user, login_as) == every_topic()


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "not-an-id", "topics": ["grades"], "type": "unsubscribe"},
        {"sub": "0" * 24, "topics": ["account"], "type": "unsubscribe"},
        {"sub": "0" * 24, "topics": [], "type": "unsubscribe"},
        {"sub": "0" * 24, "topics": 7, "type": "unsubscribe"},
        {"sub": "0" * 24, "type": "unsubscribe"},
    ],
    ids=["bad-user-id", "account-topic", "no-topics", "topics-not-a-list", "topics-missing"],
)
async def test_a_signed_token_with_unusable_claims_is_a_400(
    client: httpx.AsyncClient, claims: dict[str, Any]
) -> None:
    token = jwt.encode(claims, TEST_SECRET, algorithm=JWT_ALGORITHM)
    for method in ("GET", "POST"):
        response = await client.request(
            method, "/unsubscribe", params={"token": token}, data=ONE_CLICK
        )
        assert response.status_code == 400, (method, response.text)


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("token", ["not-a-token", "a.b.c", "%%%"])
async def test_a_malformed_token_is_a_400(
    client: httpx.AsyncClient, method: str, token: str
) -> None:
    response = await client.request(method, "/unsubscribe", params={"token": token}, data=ONE_CLICK)
    assert response.status_code == 400
    assert INVALID in response.text


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("params", [{}, {"token": ""}, {"token": "x" * 2049}])
async def test_a_missing_empty_or_oversized_token_is_a_400_page(
    client: httpx.AsyncClient, method: str, params: dict[str, str]
) -> None:
    response = await client.request(method, "/unsubscribe", params=params, data=ONE_CLICK)
    assert response.status_code == 400
    assert INVALID in response.text


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        (None, b""),
        ("application/x-www-form-urlencoded", b"List-Unsubscribe=Yes"),
        ("application/x-www-form-urlencoded", b"unsubscribe=One-Click"),
        ("application/x-www-form-urlencoded", b"\xff\xfe=%%%"),
        ("application/json", b'{"List-Unsubscribe": "One-Click"}'),
        ("multipart/form-data", b"no boundary"),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nbroken"),
    ],
    ids=["empty", "wrong-value", "wrong-field", "garbage", "json", "no-boundary", "broken-part"],
)
async def test_a_post_without_the_one_click_body_is_a_400_and_changes_nothing(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    smtp_server: CountingSmtpServer,
    content_type: str | None,
    content: bytes,
) -> None:
    token = await grade_email_token(client, world, login_as, smtp_server)
    headers = {"Content-Type": content_type} if content_type else {}

    response = await client.post(
        "/unsubscribe", params={"token": token}, content=content, headers=headers
    )

    assert response.status_code == 400
    assert "Nothing was changed" in response.text
    assert (await email_preferences(client, world.parent, login_as))["grades"] == "immediate"


async def test_a_link_for_an_account_that_is_gone_is_a_404(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    token = await grade_email_token(client, world, login_as, smtp_server)
    await world.parent.delete()

    response = await client.post("/unsubscribe", params={"token": token}, data=ONE_CLICK)

    assert response.status_code == 404


async def test_account_email_carries_no_unsubscribe_link(
    client: httpx.AsyncClient, world: World, smtp_server: CountingSmtpServer
) -> None:
    response = await client.post("/auth/password-reset/request", json={"email": world.parent.email})
    assert response.status_code == 202, response.text

    message = only_message_to(smtp_server, world.parent.email)
    assert message["Subject"] == "Reset your Schoolbell password"
    assert message["List-Unsubscribe"] is None
    assert message["List-Unsubscribe-Post"] is None
    assert "unsubscribe" not in text_of(message).lower()


async def test_the_list_unsubscribe_header_is_sent_as_a_plain_url(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    # Mail clients read List-Unsubscribe literally: a URL folded or RFC 2047-encoded to fit
    # 78 columns is a link no client follows, so check the bytes on the wire.
    token = await grade_email_token(client, world, login_as, smtp_server)
    (envelope,) = [e for e in smtp_server.envelopes if world.parent.email in e.rcpt_tos]
    raw = envelope.content.decode("ascii")
    expected = f"List-Unsubscribe: <http://testserver/unsubscribe?token={token}>\r\n"
    assert expected in raw
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw
    # Every line still fits SMTP's 998-octet limit.
    assert max(len(line) for line in raw.split("\r\n")) <= 998
