"""How database round trips of an announcement fan-out grow with the audience.

Counts the calls that reach the database (mongomock stands in for MongoDB, so wall
time says nothing; round trips are what a real server would feel). The baseline is
the obvious per-recipient loop — load the user, insert the notification — measured
in the same run; the figure to watch is the ratio, and that the batched count grows
with the number of batches of 1,000, not with recipients.

    uv run python bench/fanout_round_trips.py
"""

from __future__ import annotations

import asyncio

from _round_trips_counter import counting
from beanie import PydanticObjectId
from mongomock_motor import AsyncMongoMockClient

from app.announcements.topic import AnnouncementPayload
from app.auth.models import Role, User
from app.core.db import init_database
from app.documents import DOCUMENT_MODELS
from app.notifications.fanout import build_notification, deliver
from app.notifications.models import Notice, Notification, NotificationSettings, Recipient
from app.notifications.preferences import Preferences
from app.notifications.settings import settings_of

SIZES = (100, 1_000, 2_500)
IN_APP_ONLY = Preferences.model_validate({"email": {"announcements": "off"}})


async def make_people(count: int) -> list[PydanticObjectId]:
    documents = [
        User(
            email=f"s{n}@bench.example.org",
            full_name=f"Student {n}",
            role=Role.student,
            password_hash="-",
        ).model_dump(by_alias=True, exclude={"id"})
        for n in range(count)
    ]
    result = await User.get_motor_collection().insert_many(documents)
    ids = [PydanticObjectId(i) for i in result.inserted_ids]
    await NotificationSettings.insert_many(
        [NotificationSettings(id=i, preferences=IN_APP_ONLY) for i in ids]
    )
    return ids


def event(key: str) -> Notice:
    return Notice(
        key=key,
        topic="announcements",
        title="Bench",
        body="Body",
        payload=AnnouncementPayload(school_name="Bench school", author_name="Bench"),
    )


async def one_by_one(key: str, people: list[PydanticObjectId]) -> None:
    for person in people:
        user = await User.get(person)
        assert user is not None
        preferences = (await settings_of(person)).preferences
        notification = build_notification(event(key), Recipient(user, preferences))
        if notification is not None:
            await notification.insert()


async def main() -> None:
    print(f"{'recipients':>10} {'batched':>8} {'per-person':>11} {'ratio':>7}")
    for size in SIZES:
        await init_database(AsyncMongoMockClient(), "bench", DOCUMENT_MODELS)
        people = await make_people(size)
        with counting() as batched:
            await deliver(event(f"batched:{size}"), people)
        with counting() as baseline:
            await one_by_one(f"baseline:{size}", people)
        assert await Notification.find({"event_key": f"batched:{size}"}).count() == size
        b, p = sum(batched.values()), sum(baseline.values())
        print(f"{size:>10} {b:>8} {p:>11} {p / b:>6.0f}x")


if __name__ == "__main__":
    asyncio.run(main())
