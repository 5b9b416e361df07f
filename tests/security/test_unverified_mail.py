"""Account mail to an unverified address never repeats its name (issue 18, finding 10)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from app.core.config import Settings
from app.core.security import utcnow
from app.notifications.links import preferences_token
from tests.auth.conftest import (
    outbox,
    text_of,
)
from tests.conftest import UserFactory

# --- 10. the preferences-link email and an unverified address ----------------------------


async def test_a_new_preferences_link_to_an_unverified_address_does_not_repeat_the_name(
    site: httpx.AsyncClient, settings: Settings, make_user: UserFactory
) -> None:
    lure = "customer. Your bank card is blocked - call 555-0100"
    stranger = await make_user("parent", full_name=lure)
    stranger.email_verified = False
    await stranger.save()
    assert stranger.id is not None
    expired = preferences_token(
        settings=settings, user_id=stranger.id, now=utcnow() - timedelta(days=61)
    )

    answer = await site.post("/preferences/new-link", data={"token": expired})

    assert answer.status_code == 202
    (message,) = [m for m in outbox(settings) if m["To"] == stranger.email]
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    for part in (text_of(message), str(html.get_content()), str(message["Subject"])):
        assert "bank card" not in part and "555-0100" not in part
