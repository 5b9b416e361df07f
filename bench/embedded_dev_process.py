"""How a `schoolbell dev` process copes with a full school's data: 50,000 notifications and
50,000 emails (by default) in its embedded database. Part of bench/embedded_scale.py, which
runs it last (`main` here); it also runs on its own.

Prints three figures:

1. start time: from starting `schoolbell dev` on that data dir until /health answers;
2. save cost per write: what the journal adds to one document write, in-process
   (the same updates with and without the journal, on a small collection);
3. /health latency while writes go on and the journal is folded into the snapshot in
   the background (the fold runs every 30 s; the run lasts long enough for one).

    uv run python bench/embedded_dev_process.py [--notifications 50000] [--emails 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from beanie import PydanticObjectId
from mongomock_motor import AsyncMongoMockClient

from app.auth.models import Role, User
from app.core.db import init_database
from app.core.embedded import EmbeddedStore, write_embedded
from app.core.security import hash_password
from app.delivery.models import Email, EmailKind, EmailStatus
from app.delivery.render import render
from app.documents import DOCUMENT_MODELS
from app.notifications.models import Notification
from app.schools.models import School

PASSWORD = "bench-password-long-enough"
TRAFFIC_SECONDS = 40.0


async def build_data_dir(directory: Path, *, notifications: int, emails: int) -> float:
    """Write the data dir's snapshot; returns its size in MB."""
    # Beanie builds documents only once initialised; this database stays empty.
    await init_database(AsyncMongoMockClient(tz_aware=True), "build", DOCUMENT_MODELS)
    school = School(name="Bench school", timezone="Europe/Moscow")
    school.id = PydanticObjectId()
    admin = User(
        email="admin@bench.example.org",
        full_name="Bench Admin",
        role=Role.admin,
        password_hash=hash_password(PASSWORD),
        school_ids=[school.id],
        email_verified=True,
    )
    admin.id = PydanticObjectId()
    parents = [PydanticObjectId() for _ in range(max(1, notifications // 10))]
    html = render(
        "announcements/announcement",
        "ru",
        title="Родительское собрание",
        body="В четверг в 18:00 в актовом зале. " * 8,
        priority="normal",
        school_name=school.name,
        author_name="Анна Соколова",
        unsubscribe_url="http://127.0.0.1:8000/api/v1/unsubscribe?token=" + "x" * 120,
    )
    notification_rows = [
        Notification(
            event_key=f"announcement:{n // len(parents)}",
            recipient_id=parents[n % len(parents)],
            school_id=school.id,
            topic="announcements",
            title="Родительское собрание",
            body="В четверг в 18:00 в актовом зале.",
            data={"announcement_id": str(PydanticObjectId())},
        ).model_dump(by_alias=True, exclude={"id"})
        | {"_id": PydanticObjectId()}
        for n in range(notifications)
    ]
    email_rows = [
        Email(
            idempotency_key=f"bench:{n}",
            kind=EmailKind.immediate,
            to=f"parent{n % len(parents)}@bench.example.org",
            recipient_id=parents[n % len(parents)],
            subject=html.subject,
            text=html.text,
            html=html.html,
            status=EmailStatus.sent,
            school_id=school.id,
        ).model_dump(by_alias=True, exclude={"id"})
        | {"_id": PydanticObjectId()}
        for n in range(emails)
    ]
    write_embedded(
        directory,
        {
            "schools": [school.model_dump(by_alias=True)],
            "users": [admin.model_dump(by_alias=True)],
            "notifications": notification_rows,
            "emails": email_rows,
        },
    )
    return size_mb(directory)


async def save_cost_per_write(directory: Path, writes: int = 3_000) -> tuple[float, float]:
    """Microseconds per update_one without and with the journal."""
    database = await init_database(AsyncMongoMockClient(tz_aware=True), "bench", DOCUMENT_MODELS)
    collection = Email.get_motor_collection()
    rows = [
        Email(
            idempotency_key=f"k{n}",
            kind=EmailKind.account,
            to="a@b.org",
            subject="s",
            text="t" * 1000,
            html="<p>" + "h" * 3000 + "</p>",
        ).model_dump(by_alias=True, exclude={"id"})
        for n in range(20)
    ]
    await collection.insert_many(rows)
    ids = [row["_id"] for row in await collection.find({}, {"_id": 1}).to_list(None)]

    async def run() -> float:
        started = time.perf_counter()
        for n in range(writes):
            await collection.update_one({"_id": ids[n % len(ids)]}, {"$inc": {"attempts": 1}})
        return (time.perf_counter() - started) / writes * 1e6

    await run()  # warm-up: the first round pays for imports and caches
    without = await run()
    store = EmbeddedStore(database, directory)
    await store.load()
    with_journal = await run()
    await store.stop()
    return without, with_journal


def size_mb(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.iterdir()) / 1e6


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=50_000)
    parser.add_argument("--emails", type=int, default=50_000)
    args = parser.parse_args()
    run(notifications=args.notifications, emails=args.emails)


def run(*, notifications: int, emails: int) -> None:
    """Build the data dir, time the journal, start `dev` on it and time /health meanwhile."""

    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch) / "data"
        started = time.perf_counter()
        size = asyncio.run(build_data_dir(data_dir, notifications=notifications, emails=emails))
        print(
            f"data dir: {notifications:,} notifications + {emails:,} emails, "
            f"{size:.0f} MB on disk (built in {time.perf_counter() - started:.1f} s)"
        )

        without, with_journal = asyncio.run(save_cost_per_write(Path(scratch) / "micro"))
        print(
            f"save cost per write: {with_journal - without:.0f} µs added by the journal "
            f"({without:.0f} µs per update without it, {with_journal:.0f} µs with it)"
        )

        port = free_port()
        env = {
            **os.environ,
            "SCHOOLBELL_DATA_DIR": str(data_dir),
            "JWT_SECRET": "bench-secret-that-is-long-enough-for-hs256",
        }
        env.pop("REDIS_URL", None)
        env.pop("SMTP_HOST", None)
        log_path = Path(scratch) / "dev.log"
        with open(log_path, "wb") as log:
            spawned = time.perf_counter()
            process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "dev", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            base = f"http://127.0.0.1:{port}"
            try:
                while True:
                    try:
                        if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if process.poll() is not None:
                        sys.exit(f"dev exited:\n{log_path.read_text()}")
                    time.sleep(0.05)
                print(f"start time: {time.perf_counter() - spawned:.1f} s until /health answers")
                loaded = re.search(r"embedded database loaded: .*", log_path.read_text())
                print(f"  of which {loaded.group(0) if loaded else 'loading: not logged'}")
                measure_latency_during_saves(base, log_path)
            finally:
                process.send_signal(signal.SIGINT)
                process.wait(timeout=120)


def measure_latency_during_saves(base: str, log_path: Path) -> None:
    token = httpx.post(
        f"{base}/api/v1/auth/login",
        data={"username": "admin@bench.example.org", "password": PASSWORD},
        timeout=30,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    stop = threading.Event()
    writes = 0

    def write_forever() -> None:
        nonlocal writes
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            hour = 0
            while not stop.is_set():
                hour = (hour + 1) % 24
                client.patch("/api/v1/users/me/preferences", json={"digest_hour": hour})
                writes += 1

    writer = threading.Thread(target=write_forever, daemon=True)
    writer.start()
    latencies: list[float] = []
    deadline = time.monotonic() + TRAFFIC_SECONDS
    with httpx.Client(base_url=base, timeout=30) as client:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            client.get("/health")
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.02)
    stop.set()
    writer.join(30)
    folds = re.findall(r"embedded database saved: ([\d.]+) MB in ([\d.]+) s", log_path.read_text())
    print(
        f"/health during {TRAFFIC_SECONDS:.0f} s of writes ({writes:,} writes, "
        f"{len(folds)} background saves: "
        + ", ".join(f"{mb} MB in {s} s" for mb, s in folds)
        + f"): p50 {statistics.median(latencies):.1f} ms, "
        f"p95 {percentile(latencies, 0.95):.1f} ms, max {max(latencies):.1f} ms "
        f"over {len(latencies)} requests"
    )


if __name__ == "__main__":
    main()
