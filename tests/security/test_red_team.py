"""A red-team pass over the issue 18 fixes: holes found after they landed, each replayed
over HTTP (the test failed before its fix)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from app.auth.models import User
from tests.conftest import World
from tests.security.mail import emails_to

LoginAs = Callable[[User], dict[str, str]]


async def test_a_guardian_code_mailed_to_a_look_alike_address_reaches_the_account(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    """The admin types the parent's address in full-width letters: the code goes to the
    parent's one real mailbox, not to a second spelling of it."""
    full_width = "".join(
        chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in world.parent.email.split("@")[0]
    )
    answer = await client.post(
        f"/students/{world.student.id}/guardian-codes",
        json={"email": f"{full_width}@example.org"},
        headers=login_as(world.admin),
    )

    assert answer.status_code == 201, answer.text
    mailed = await emails_to(world.parent.email)
    assert [email.recipient_id for email in mailed] == [world.parent.id]
