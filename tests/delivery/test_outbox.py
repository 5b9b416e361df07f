"""The outbox's guarantees: permanent failures end dead, crashed sends are picked up again,
and two workers never send one email twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from app.auth.models import Role, User
from app.core.security import utcnow
from app.delivery import service as delivery
from app.delivery.models import Email, EmailStatus
from app.schools.guardians import link_guardian
from tests.conftest import UserFactory, World
from tests.delivery.conftest import CountingSmtpServer
from tests.delivery.helpers import only_message_to, outbox_of, put_email, received_by, reload
from tests.grades.helpers import posted

Login = Callable[[User], dict[str, str]]
LATER = datetime(2031, 5, 1, 8, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


# --- permanent failures ------------------------------------------------------------------


async def test_a_5xx_recipient_ends_dead_and_the_others_still_get_the_grade(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    smtp_server: CountingSmtpServer,
) -> None:
    other = await make_user(Role.parent)
    for parent in (world.parent, other):
        assert parent.id and world.student.id
        await link_guardian(parent_id=parent.id, student_id=world.student.id)
    smtp_server.refuse.add(world.parent.email)

    await posted(client, login_as(world.teacher), world)

    (dead,) = await outbox_of(world.parent)
    assert dead.status == EmailStatus.dead
    assert dead.attempts == 1
    assert dead.last_error and "550" in dead.last_error
    assert received_by(smtp_server, world.parent.email) == []
    only_message_to(smtp_server, world.student.email)
    only_message_to(smtp_server, other.email)
    # The three emails of the grade went in one run, over one connection.
    assert smtp_server.connections == 1

    # No retry, whatever runs later.
    smtp_server.refuse.clear()
    await delivery.sweep(now=utcnow() + timedelta(days=1))
    assert (await delivery.send_emails(now=utcnow() + timedelta(days=1))).delivered == 0
    assert (await reload(dead)).status == EmailStatus.dead
    assert len(smtp_server.envelopes) == 2


async def test_one_connection_carries_a_run_past_a_refused_recipient(
    app: FastAPI, smtp_server: CountingSmtpServer
) -> None:
    smtp_server.refuse.add("gone@example.org")
    addresses = ["a@example.org", "gone@example.org", "b@example.org", "c@example.org"]
    for n, address in enumerate(addresses):
        await put_email(address, key=f"run:{n}", due=LATER + n * SECOND)

    assert (await delivery.send_emails(now=LATER + timedelta(minutes=1))).delivered == 3

    assert [str(m["To"]) for m in smtp_server.messages] == [
        "a@example.org",
        "b@example.org",
        "c@example.org",
    ]
    assert smtp_server.connections == 1
    statuses = {e.to: e.status for e in await Email.find_all().to_list()}
    assert statuses["gone@example.org"] == EmailStatus.dead
    assert {statuses[a] for a in addresses if a != "gone@example.org"} == {EmailStatus.sent}


# --- crashed senders ---------------------------------------------------------------------


async def test_the_sweep_resends_an_email_whose_sender_died_once(
    app: FastAPI, smtp_server: CountingSmtpServer
) -> None:
    now = utcnow()
    abandoned = await put_email(
        "abandoned@example.org", key="abandoned", due=now - timedelta(hours=1)
    )
    busy = await put_email("busy@example.org", key="busy", due=now - timedelta(hours=1))
    collection = Email.get_motor_collection()
    # One worker died mid-send long ago; another is sending right now.
    await collection.update_one(
        {"_id": abandoned.id},
        {"$set": {"status": "sending", "attempts": 1, "lease_until": now - timedelta(minutes=1)}},
    )
    await collection.update_one(
        {"_id": busy.id},
        {"$set": {"status": "sending", "attempts": 1, "lease_until": now + timedelta(minutes=4)}},
    )

    # The sweep hands the abandoned one back; its send job (inline here) delivers it.
    assert await delivery.sweep(now=utcnow()) == 1
    await delivery.sweep(now=utcnow())
    assert (await delivery.send_emails()).delivered == 0

    only_message_to(smtp_server, "abandoned@example.org")
    assert len(smtp_server.envelopes) == 1
    abandoned = await reload(abandoned)
    assert (abandoned.status, abandoned.attempts) == (EmailStatus.sent, 2)
    busy = await reload(busy)
    assert busy.status == EmailStatus.sending
    assert busy.lease_until is not None and busy.lease_until > utcnow()
    assert received_by(smtp_server, "busy@example.org") == []


async def test_a_live_lease_is_never_taken_over(
    app: FastAPI, smtp_server: CountingSmtpServer
) -> None:
    email = await put_email("held@example.org", key="held", due=LATER)
    (claimed,) = await delivery.claim(now=LATER, email_ids=None)
    assert claimed.id == email.id
    assert claimed.lease_until == LATER + delivery.LEASE

    # Within the lease nobody sends it; after it, the sweep does, once.
    await delivery.sweep(now=LATER + delivery.LEASE - SECOND)
    assert (await delivery.send_emails(now=LATER + delivery.LEASE - SECOND)).delivered == 0
    assert smtp_server.envelopes == []
    # The sweep hands it back and sends it at the time it was given.
    await delivery.sweep(now=LATER + delivery.LEASE + SECOND)
    assert (await reload(email)).status == EmailStatus.sent
    assert (await delivery.send_emails(now=LATER + timedelta(days=1))).delivered == 0
    only_message_to(smtp_server, "held@example.org")


# --- racing workers ----------------------------------------------------------------------


async def test_two_workers_racing_on_one_email_send_it_once(
    app: FastAPI, smtp_server: CountingSmtpServer
) -> None:
    email = await put_email("once@example.org", key="race", due=LATER)
    ids = [str(email.id)]

    results = await asyncio.gather(
        delivery.send_emails(email_ids=ids, now=LATER),
        delivery.send_emails(email_ids=ids, now=LATER),
    )

    assert sorted(result.delivered for result in results) == [0, 1]
    only_message_to(smtp_server, "once@example.org")
    assert (await reload(email)).attempts == 1


async def test_two_workers_draining_the_outbox_together_send_each_email_once(
    app: FastAPI, smtp_server: CountingSmtpServer
) -> None:
    addresses = [f"pupil{n}@example.org" for n in range(12)]
    for n, address in enumerate(addresses):
        await put_email(address, key=f"drain:{n}", due=LATER)

    results = await asyncio.gather(delivery.send_emails(now=LATER), delivery.send_emails(now=LATER))

    assert sum(result.delivered for result in results) == len(addresses)
    assert sorted(str(m["To"]) for m in smtp_server.messages) == sorted(addresses)
    assert await Email.find({"status": EmailStatus.sent, "attempts": 1}).count() == len(addresses)


async def test_concurrent_claims_have_one_winner(app: FastAPI) -> None:
    email = await put_email("once@example.org", key="claim", due=LATER)
    assert email.id

    winners = await asyncio.gather(
        *(delivery.claim(now=LATER, email_ids=[email.id]) for _ in range(5))
    )

    claimed = [email for won in winners for email in won]
    assert len(claimed) == 1
    assert claimed[0].status == EmailStatus.sending and claimed[0].attempts == 1


async def test_claim_takes_only_due_pending_emails(app: FastAPI) -> None:
    email = await put_email("later@example.org", key="later", due=LATER)
    assert email.id
    assert await delivery.claim(now=LATER - SECOND, email_ids=None) == []
    await Email.get_motor_collection().update_one({"_id": email.id}, {"$set": {"status": "dead"}})
    assert await delivery.claim(now=LATER + SECOND, email_ids=[email.id]) == []


# --- stale claims, unbuildable messages, the sweep's clock ---------------------------------


async def test_a_send_that_outlived_its_lease_does_not_overwrite_the_next_claim(
    app: FastAPI, smtp_server: CountingSmtpServer
) -> None:
    email = await put_email("late@example.org", key="stale", due=LATER)
    (first,) = await delivery.claim(now=LATER, email_ids=None)
    assert first.attempts == 1
    # The first worker hangs past its lease and the email is handed back (what the
    # sweep does), then a second worker claims it and is still sending.
    after_lease = LATER + delivery.LEASE + SECOND
    await Email.get_motor_collection().update_one(
        {"_id": email.id}, {"$set": {"status": EmailStatus.pending, "next_attempt_at": after_lease}}
    )
    (second,) = await delivery.claim(now=after_lease, email_ids=None)
    assert second.attempts == 2

    # The first worker's late verdict must not settle the second worker's claim.
    await delivery._record([first], {first.id: None}, set(), after_lease + SECOND)
    late = delivery.DeliveryError("timed out", permanent=False)
    await delivery._record([first], {first.id: late}, set(), after_lease + SECOND)
    fresh = await reload(email)
    assert fresh.status == EmailStatus.sending
    assert fresh.attempts == 2
    assert fresh.sent_at is None


async def test_a_message_that_cannot_be_built_is_dead_not_retried(
    app: FastAPI, smtp_server: CountingSmtpServer
) -> None:
    email = await put_email("broken@example.org", key="unbuildable", due=LATER)
    # A header with a line break cannot be written into a message.
    await Email.get_motor_collection().update_one(
        {"_id": email.id}, {"$set": {"headers": {"X-Broken": "one\ntwo"}}}
    )
    fine = await put_email("fine@example.org", key="fine", due=LATER)

    assert (await delivery.send_emails(now=LATER)).delivered == 1

    assert (await reload(email)).status == EmailStatus.dead
    assert "cannot build" in ((await reload(email)).last_error or "")
    assert (await reload(fine)).status == EmailStatus.sent
    assert [m["To"] for m in smtp_server.messages] == ["fine@example.org"]


async def test_the_sweep_sends_what_is_due_at_the_time_it_is_given(
    app: FastAPI, smtp_server: CountingSmtpServer
) -> None:
    email = await put_email("later@example.org", key="due-later", due=LATER)

    await delivery.sweep(now=LATER - SECOND)
    assert smtp_server.messages == []
    await delivery.sweep(now=LATER)

    assert (await reload(email)).status == EmailStatus.sent
    assert [m["To"] for m in smtp_server.messages] == ["later@example.org"]
