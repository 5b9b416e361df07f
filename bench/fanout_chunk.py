"""One chunk of a broadcast's fan-out as a worker runs it, and what that makes of a district
broadcast on a MongoDB replica set.

An announcement to RECIPIENTS parents (half English, half Russian readers, default
preferences: inbox and an immediate email each) is published with a dispatcher that only
records jobs; then each chunk job is run through the job runner, as a worker runs it (the
record taken, the batch written, the chunk counted, the record struck). It prints:

- database round trips of one chunk (what a real server feels; mongomock answers from
  memory, so its wall time says nothing);
- CPU per recipient of a chunk: all of it here (mongomock's own work included, so an
  upper bound), and the worker's own part, without a store: reading the users into
  models, building the notifications and emails, encoding them to BSON;
- an estimate for BROADCAST recipients with 1, 4 and 16 fan-out workers, from those
  figures and the assumptions it names (--rtt-ms, --server-us-per-document), and the time
  the emails take at the provider's cap (EMAIL_RATE_PER_SECOND, shared by all workers) or
  at --send-rate per send worker (bench/send.py measures it), whichever is slower.

    uv run python bench/fanout_chunk.py [--recipients 3000] [--rtt-ms 1]
        [--server-us-per-document 20] [--send-rate 150]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time
from typing import Any

import bson
from _round_trips_counter import counting
from beanie import PydanticObjectId
from mongomock_motor import AsyncMongoMockClient

from app.announcements.topic import AnnouncementPayload
from app.auth.models import Locale, Role, User
from app.core import jobs
from app.core.config import Settings, use_settings
from app.core.db import init_database
from app.core.security import utcnow
from app.documents import DOCUMENT_MODELS
from app.notifications.emails import immediate_emails
from app.notifications.fanout import CHUNK_JOB, build_notification, publish
from app.notifications.models import Notice, Notification, Recipient
from app.notifications.preferences import Preferences

BROADCAST = 100_000
WORKERS = (1, 4, 16)


class RecordingDispatcher:
    """Keeps what would go to the broker, so each job can be run and measured on its own."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def enqueue(
        self, name: str, *, countdown: float, request_id: str | None, **kwargs: Any
    ) -> None:
        self.sent.append((name, kwargs))


def parent_documents(count: int) -> list[dict[str, Any]]:
    return [
        User(
            email=f"parent{n}@bench.example.org",
            full_name=f"Parent {n}",
            role=Role.parent,
            password_hash="-",
            locale=Locale.ru if n % 2 else Locale.en,
            timezone="Europe/Moscow",
        ).model_dump(by_alias=True, exclude={"id"})
        for n in range(count)
    ]


def notice(key: str, recipients: list[PydanticObjectId]) -> Notice:
    return Notice(
        key=key,
        topic="announcements",
        title="Concert on Friday",
        body="The school choir sings at 18:00 in the main hall. Parents are welcome.",
        payload=AnnouncementPayload(school_name="Bench school", author_name="Olga Ivanovna"),
        recipients=recipients,
    )


def worker_own_cpu_ms(documents: list[dict[str, Any]], event: Notice) -> float:
    """CPU per recipient of what a worker does itself for a chunk, with no store."""
    start = time.process_time()
    users = [User.model_validate(document) for document in documents]
    reached = [Recipient(user, Preferences()) for user in users]
    built = [(n, r) for r in reached if (n := build_notification(event, r)) is not None]
    emails = immediate_emails(event, built, now=utcnow())
    for notification, _recipient in built:
        bson.encode(notification.model_dump(by_alias=True, exclude={"id"}))
    for email in emails:
        bson.encode(email.model_dump(by_alias=True, exclude={"id"}))
    return (time.process_time() - start) * 1000 / len(documents)


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.1f} s"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=3000)
    parser.add_argument("--rtt-ms", type=float, default=1.0)
    parser.add_argument("--server-us-per-document", type=float, default=20.0)
    parser.add_argument("--send-rate", type=float, default=150.0)
    args = parser.parse_args()
    settings = Settings(
        _env_file=None,
        jwt_secret="bench-secret-that-is-long-enough-for-hs256",
        public_base_url="http://127.0.0.1:8000",
    )
    use_settings(settings)
    batch = settings.fanout_batch_size
    await init_database(AsyncMongoMockClient(tz_aware=True), "bench", DOCUMENT_MODELS)
    documents = parent_documents(args.recipients)
    inserted = await User.get_motor_collection().insert_many(documents)
    people = [PydanticObjectId(i) for i in inserted.inserted_ids]

    dispatcher = RecordingDispatcher()
    jobs.use_dispatcher(dispatcher)
    with counting() as started:
        await publish(notice("announcement:bench", people))
    chunk_jobs = [kwargs for name, kwargs in dispatcher.sent if name == CHUNK_JOB]
    round_trips, cpu_ms = [], []
    for kwargs in chunk_jobs:
        with counting() as chunk:
            start = time.process_time()
            await jobs.run(CHUNK_JOB, kwargs, request_id=None)
            cpu_ms.append((time.process_time() - start) * 1000 / len(kwargs["recipient_ids"]))
        round_trips.append(sum(chunk.values()))
    assert await Notification.find({"event_key": "announcement:bench"}).count() == len(people)
    own_ms = statistics.median(
        worker_own_cpu_ms(documents[:batch], notice("announcement:own", [])) for _ in range(3)
    )
    chunk_trips = statistics.median(round_trips)

    print(f"{len(people)} recipients, batches of {batch}: {len(chunk_jobs)} chunk jobs")
    print(f"  publish (record the notice and the chunk jobs): {sum(started.values())} round trips")
    print(f"  one chunk: {chunk_trips:.0f} round trips ({dict(chunk)})")
    with_store_ms = statistics.median(cpu_ms)
    print(f"  CPU per recipient of a chunk, with mongomock's work: {with_store_ms:.2f} ms")
    print(f"  CPU per recipient, the worker's own part (no store): {own_ms:.2f} ms")

    # Per chunk, on a replica set: the worker's CPU, its round trips, and the primary writing
    # a notification and an email per recipient (majority acknowledged).
    worker_s = own_ms * batch / 1000
    network_s = chunk_trips * args.rtt_ms / 1000
    server_s = 2 * batch * args.server_us_per_document / 1e6
    chunk_s = worker_s + network_s + server_s
    chunks = math.ceil(BROADCAST / batch)
    # The primary writes for every worker at once: it caps how far workers add up.
    floor_s = chunks * server_s
    print(
        f"\n{BROADCAST:,} recipients: {chunks} chunks of {chunk_s:.2f} s each "
        f"(worker {worker_s:.2f} + round trips {network_s:.3f} at {args.rtt_ms:g} ms "
        f"+ primary writes {server_s:.2f} at {args.server_us_per_document:g} us/document)"
    )
    cap = settings.email_rate_per_second
    for workers in WORKERS:
        fanout_s = max(math.ceil(chunks / workers) * chunk_s, floor_s)
        send_s = BROADCAST / min(cap, workers * args.send_rate)
        print(
            f"  {workers:>2} worker(s): every inbox in {minutes(fanout_s)}; every email sent in "
            f"{minutes(send_s)} (cap {cap}/s, {args.send_rate:g}/s per send worker)"
        )


if __name__ == "__main__":
    asyncio.run(main())
