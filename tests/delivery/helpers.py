"""Reading what the SMTP server received, and writing outbox rows by hand."""

from __future__ import annotations

import re
from datetime import datetime
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

from beanie import PydanticObjectId

from app.auth.models import User
from app.delivery.models import Email, EmailKind
from app.delivery.render import Rendered
from app.delivery.service import new_email
from tests.delivery.conftest import CountingSmtpServer

UNSUBSCRIBE_HEADER = re.compile(r"^<(http://testserver/unsubscribe\?token=[^>\s]+)>$")


def received_by(smtp: CountingSmtpServer, address: str) -> list[EmailMessage]:
    """Messages whose SMTP envelope was addressed to `address`, in arrival order."""
    return [
        message
        for envelope, message in zip(smtp.envelopes, smtp.messages, strict=True)
        if address.lower() in (r.lower() for r in envelope.rcpt_tos)
    ]


def only_message_to(smtp: CountingSmtpServer, address: str) -> EmailMessage:
    messages = received_by(smtp, address)
    assert len(messages) == 1, f"{address} received {len(messages)} messages"
    return messages[0]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None and part.get_content_type() == "text/plain"
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    """The HTML part without the inline styles the layout adds, so tests read the content."""
    return re.sub(r' style="[^"]*"', "", _html_part(message))


def _html_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None and part.get_content_type() == "text/html"
    return str(part.get_content())


def unsubscribe_link(message: EmailMessage) -> str:
    """The one-click link in List-Unsubscribe, after checking both RFC 8058 headers."""
    found = UNSUBSCRIBE_HEADER.match(str(message["List-Unsubscribe"]))
    assert found, message["List-Unsubscribe"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    return found.group(1)


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


async def outbox_of(user: User) -> list[Email]:
    return await Email.find({"recipient_id": user.id}).sort("created_at").to_list()


async def reload(email: Email) -> Email:
    assert email.id is not None
    fresh = await Email.get(email.id)
    assert fresh is not None
    return fresh


async def put_email(
    to: str,
    *,
    key: str,
    due: datetime,
    recipient_id: PydanticObjectId | None = None,
) -> Email:
    """An outbox row written directly, so no job sends it before the test says so."""
    email = new_email(
        key=key,
        kind=EmailKind.immediate,
        to=to,
        rendered=Rendered(subject=f"Subject {key}", text=f"Text {key}", html=f"<p>{key}</p>"),
        recipient_id=recipient_id,
        not_before=due,
    )
    await email.insert()
    return email
