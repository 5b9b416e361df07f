"""A broadcast's emails all go out from the jobs its write asked for, none left to the sweep."""

from __future__ import annotations

from fastapi import FastAPI

from app.core.config import Settings
from app.core.jobs import JobRecord
from app.delivery import service as delivery
from app.delivery.models import Email, EmailKind, EmailStatus
from app.delivery.render import Rendered
from tests.delivery.conftest import CountingSmtpServer

RECIPIENTS = 1000


async def test_a_thousand_emails_of_one_broadcast_all_arrive_without_the_sweep(
    app: FastAPI, settings: Settings, smtp_server: CountingSmtpServer
) -> None:
    addresses = [f"parent{n}@example.org" for n in range(RECIPIENTS)]
    emails = [
        delivery.new_email(
            key=f"broadcast:{n}",
            kind=EmailKind.immediate,
            to=address,
            rendered=Rendered(subject="Sports day", text="Friday", html="<p>Friday</p>"),
        )
        for n, address in enumerate(addresses)
    ]

    # What the fan-out does for a batch of 1,000 recipients; the sweep never runs here.
    assert await delivery.queue_emails(emails) == RECIPIENTS

    received = [address for e in smtp_server.envelopes for address in e.rcpt_tos]
    assert sorted(received) == sorted(addresses)
    assert await Email.find({"status": EmailStatus.sent}).count() == RECIPIENTS
    assert await JobRecord.find().count() == 0  # no job left over for later
    # Never more connections at once than the provider was promised.
    assert smtp_server.connections <= settings.smtp_connections
