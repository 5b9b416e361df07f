"""CPU a fan-out spends building the immediate emails of one event, per recipient.

The app renders each email once per kind of reader (language, grade values shown or not,
the reason line) and fills in each reader's signed links; the baseline renders the whole
template for every reader, as the app did before. Both run in the same process on the
same readers; the figure to watch is the ratio.

    uv run python bench/fanout_render.py [--readers 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from beanie import PydanticObjectId
from mongomock_motor import AsyncMongoMockClient

from app.announcements.topic import AnnouncementPayload
from app.auth.models import Locale, Role, User
from app.core.config import Settings, use_settings
from app.core.db import init_database
from app.core.security import utcnow
from app.delivery.render import render
from app.documents import DOCUMENT_MODELS
from app.notifications.emails import immediate_emails, why_this_email
from app.notifications.links import preferences_url, unsubscribe_url
from app.notifications.models import EmailDecision, Notice, Notification, Recipient
from app.notifications.preferences import Preferences


def announcement() -> Notice:
    return Notice(
        key="announcement:bench",
        topic="announcements",
        title="Concert on Friday",
        body="The school choir sings at 18:00 in the main hall. Parents are welcome.",
        payload=AnnouncementPayload(school_name="Bench school", author_name="Olga Ivanovna"),
    )


def readers(count: int) -> list[tuple[Notification, Recipient]]:
    rows = []
    for n in range(count):
        user = User.model_construct(
            id=PydanticObjectId(),
            email=f"reader{n}@bench.example.org",
            full_name=f"Reader {n}",
            role=Role.parent,
            password_hash="-",
            locale=Locale.ru if n % 2 else Locale.en,
            timezone="Europe/Moscow",
        )
        notification = Notification.model_construct(
            email_decision=EmailDecision.immediate, topic="announcements"
        )
        rows.append((notification, Recipient(user, Preferences())))
    return rows


def per_reader(event: Notice, notified: list[tuple[Notification, Recipient]], settings: Any) -> int:
    """The old way: the whole template rendered for every reader."""
    for _, recipient in notified:
        user = recipient.user
        assert user.id is not None
        render(
            "announcements/announcement",
            user.locale.value,
            **event.data,
            title=event.title,
            body=event.body,
            priority=event.priority.value,
            unsubscribe_url=unsubscribe_url(
                settings=settings, user_id=user.id, topics=[event.topic]
            ),
            preferences_url=preferences_url(settings=settings, user_id=user.id),
            reason=why_this_email(event, user),
        )
    return len(notified)


async def main() -> None:
    await init_database(AsyncMongoMockClient(), "bench", DOCUMENT_MODELS)
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    settings = Settings(
        _env_file=None,
        jwt_secret="bench-secret-that-is-long-enough-for-hs256",
        public_base_url="http://127.0.0.1:8000",
    )
    use_settings(settings)
    event, notified = announcement(), readers(args.readers)
    app_ms, baseline_ms = [], []
    for _ in range(args.rounds):  # interleaved, so both see the same machine
        start = time.perf_counter()
        immediate_emails(event, notified, now=utcnow())
        app_ms.append((time.perf_counter() - start) * 1000 / len(notified))
        start = time.perf_counter()
        per_reader(event, notified, settings)
        baseline_ms.append((time.perf_counter() - start) * 1000 / len(notified))
    app, baseline = statistics.median(app_ms), statistics.median(baseline_ms)
    print(f"readers: {args.readers}, median of {args.rounds} rounds, ms of CPU per recipient")
    print(f"  rendered per reader (before): {baseline:.3f}")
    print(f"  rendered once, links filled:  {app:.3f}")
    print(f"  ratio: {baseline / app:.1f}x less per recipient")


if __name__ == "__main__":
    asyncio.run(main())
