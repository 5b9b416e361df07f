"""What the security tests read of the outbox: the emails to an address, a link in one."""

from __future__ import annotations

import re

from app.delivery.models import Email


async def emails_to(address: str) -> list[Email]:
    return await Email.find({"to": address}).to_list()


def link_in(email: Email, path: str) -> str:
    """The token of the link to `path` in an email's text."""
    found = re.search(rf"/{path}\?token=([A-Za-z0-9_\-.]+)", email.text)
    assert found, email.text
    return found.group(1)
