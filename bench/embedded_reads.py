"""What a parent's and an admin's reads cost on `schoolbell dev`'s embedded store as the rest
of the district's data grows, with the store's indexes and without them (mongomock's own
scan of every document), in the same run.

Loads the demo school, then adds other schools' grades, notifications and announcements
(1,000, 10,000 and 100,000 documents by default) and times, in-process, the median of:
a parent's inbox (GET /notifications), her child's grade summary, and the admin's
announcement list. Prints each median, its ratio to the 1,000-document one, the ratio of
the scan to the indexed read, and the process's resident memory.

    uv run python bench/embedded_reads.py [--sizes 1000 10000 100000] [--requests 40]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import time
from typing import Any

import httpx
from beanie import PydanticObjectId
from mongomock_motor import AsyncMongoMockClient

from app.announcements.models import Announcement, AnnouncementStatus
from app.auth.models import User
from app.core import db, embedded_indexes
from app.core.config import Settings
from app.core.security import utcnow
from app.demo import DEMO_ADMIN_EMAIL, DEMO_DOMAIN, DEMO_PASSWORD, load_demo
from app.grades.models import Grade, GradeKind
from app.main import create_app
from app.notifications.models import Notification

PARENT_EMAIL = f"parent.ivanova@{DEMO_DOMAIN}"
CHILD_EMAIL = f"masha@{DEMO_DOMAIN}"


def settings() -> Settings:
    return Settings(
        _env_file=None,
        jwt_secret="bench-secret-that-is-long-enough-for-hs256",
        mongodb_url=None,
        redis_url=None,
        smtp_host=None,
        login_rate_per_account="1000/minute",
        login_rate_per_client="1000/minute",
    )


def others(count: int) -> dict[type[Any], list[dict[str, Any]]]:
    """`count` documents of other schools, split as a district's are: mostly grades and
    notifications, some announcements."""
    now = utcnow()
    school, klass, teacher = PydanticObjectId(), PydanticObjectId(), PydanticObjectId()
    grades = [
        Grade(
            school_id=school,
            class_id=klass,
            student_id=PydanticObjectId(),
            teacher_id=teacher,
            subject="math",
            subject_key="math",
            value=4,
            kind=GradeKind.regular,
            weight=1,
            date=now,
        ).model_dump(by_alias=True, exclude={"id"})
        for _ in range(count * 45 // 100)
    ]
    notifications = [
        Notification(
            recipient_id=PydanticObjectId(),
            topic="grades",
            title="New grade",
            body="4",
            event_key=f"bench:{n}",
        ).model_dump(by_alias=True, exclude={"id"})
        for n in range(count * 45 // 100)
    ]
    announcements = [
        Announcement(
            school_id=school,
            author_id=teacher,
            title="News",
            body="Body",
            status=AnnouncementStatus.published,
            publish_at=now,
        ).model_dump(by_alias=True, exclude={"id"})
        for _ in range(count - len(grades) - len(notifications))
    ]
    return {Grade: grades, Notification: notifications, Announcement: announcements}


async def median_ms(http: httpx.AsyncClient, url: str, headers: dict[str, str], n: int) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        answer = await http.get(url, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
    return statistics.median(times)


async def login(http: httpx.AsyncClient, email: str) -> dict[str, str]:
    answer = await http.post(
        "/api/v1/auth/login", data={"username": email, "password": DEMO_PASSWORD}
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def measure(sizes: list[int], requests: int) -> None:
    app = create_app(settings(), mongo_client=AsyncMongoMockClient(tz_aware=True))
    async with app.router.lifespan_context(app):
        await load_demo()
        child = await User.find_one(User.email == CHILD_EMAIL)
        assert child is not None
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            parent, admin = await login(http, PARENT_EMAIL), await login(http, DEMO_ADMIN_EMAIL)
            reads = {
                "parent's inbox": ("/api/v1/notifications", parent),
                "grade summary": (f"/api/v1/students/{child.id}/grades/summary", parent),
                "announcement list": ("/api/v1/announcements", admin),
            }
            print(
                f"{'documents':>10} {'read':<18} {'indexed ms':>10} {'x 1k':>6} "
                f"{'scan ms':>9} {'scan/indexed':>12} {'RSS MB':>7}"
            )
            added, first = 0, dict[str, float]()
            for size in sizes:
                for model, documents in others(size - added).items():
                    await db.insert_many_ignoring_duplicates(model, documents)
                added = size
                for name, (url, headers) in reads.items():
                    embedded_indexes.ENABLED = True
                    indexed = await median_ms(http, url, headers, requests)
                    embedded_indexes.ENABLED = False
                    scanned = await median_ms(http, url, headers, max(3, requests // 8))
                    embedded_indexes.ENABLED = True
                    first.setdefault(name, indexed)
                    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                    print(
                        f"{size:>10,} {name:<18} {indexed:>10.1f} {indexed / first[name]:>6.1f} "
                        f"{scanned:>9.1f} {scanned / indexed:>12.1f} {rss:>7.0f}"
                    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(measure(sorted(args.sizes), args.requests))


if __name__ == "__main__":
    main()
