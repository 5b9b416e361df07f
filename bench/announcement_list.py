"""What GET /announcements costs a non-admin as the database fills with other schools'
announcements: round trips, and how many announcements its queries select.

For anyone but an admin the list is what was addressed to them, so it joins announcements
to the caller's notifications. It must read only the caller's own schools' announcements
(through the school_newest index), and a freshly registered stranger with no school none
at all: both figures must be the same for 10 and 1,000 announcements in the database.
"Selected" is how many announcements the filters of the request's queries on that
collection match: the most an index scan on them could read (mongomock has no indexes,
so time says nothing; see _round_trips_counter).

    uv run python bench/announcement_list.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from _round_trips_counter import counting

SIZES = (10, 1_000)
OWN = 3  # announcements of the member's own school, each addressed to them
PASSWORD = "bench-password-long-enough"


@contextmanager
def announcement_filters() -> Iterator[list[dict[str, Any]]]:
    """The filters of the finds and aggregations on the announcements inside the block."""
    from mongomock_motor import AsyncMongoMockCollection

    from app.announcements.models import Announcement

    name = Announcement.get_collection_name()
    filters: list[dict[str, Any]] = []
    find, aggregate = AsyncMongoMockCollection.find, AsyncMongoMockCollection.aggregate

    def spied_find(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.name == name:
            filters.append(args[0] if args else kwargs.get("filter") or {})
        return find(self, *args, **kwargs)

    def spied_aggregate(self: Any, pipeline: list[dict[str, Any]], *args: Any, **kw: Any) -> Any:
        if self.name == name:
            filters.append((pipeline[0] if pipeline else {}).get("$match", {}))
        return aggregate(self, pipeline, *args, **kw)

    setattr(AsyncMongoMockCollection, "find", spied_find)  # noqa: B010 (a method swapped in)
    setattr(AsyncMongoMockCollection, "aggregate", spied_aggregate)  # noqa: B010
    try:
        yield filters
    finally:
        setattr(AsyncMongoMockCollection, "find", find)  # noqa: B010
        setattr(AsyncMongoMockCollection, "aggregate", aggregate)  # noqa: B010


async def measure(size: int) -> list[tuple[str, int, int, int]]:
    """(caller, status, round trips, announcements selected) with `size` announcements of
    another school in the database."""
    import httpx
    from beanie import PydanticObjectId
    from mongomock_motor import AsyncMongoMockClient
    from round_trips import bench_settings

    from app.announcements.models import Announcement, AnnouncementStatus
    from app.auth import user_cache
    from app.auth.models import Role, User
    from app.core.db import collection
    from app.core.security import hash_password, utcnow
    from app.main import create_app
    from app.notifications.models import Notification
    from app.schools.models import GuardianLink, School, SchoolClass

    app = create_app(bench_settings(), mongo_client=AsyncMongoMockClient(tz_aware=True))
    async with app.router.lifespan_context(app):
        now = utcnow()
        home, elsewhere = School(name="Home"), School(name="Elsewhere")
        await home.insert()
        await elsewhere.insert()
        assert home.id is not None and elsewhere.id is not None
        password_hash = hash_password(PASSWORD)

        def person(role: Role, name: str, schools: list[PydanticObjectId]) -> User:
            return User(
                email=f"{name}@bench.example.org",
                full_name=name.title(),
                role=role,
                password_hash=password_hash,
                school_ids=schools,
                email_verified=True,
            )

        stranger = person(Role.parent, "stranger", [])
        parent = person(Role.parent, "parent", [])
        child = person(Role.student, "child", [home.id])
        for user in (stranger, parent, child):
            await user.insert()
        assert parent.id is not None and child.id is not None
        home.classes.append(SchoolClass(name="5A", student_ids=[child.id]))
        await home.save()
        await GuardianLink(parent_id=parent.id, student_id=child.id).insert()

        def announcement(school_id: PydanticObjectId, n: int) -> Announcement:
            return Announcement(
                id=PydanticObjectId(),
                school_id=school_id,
                author_id=PydanticObjectId(),
                title=f"Announcement {n}",
                body="Body",
                publish_at=now - dt.timedelta(minutes=n),
                status=AnnouncementStatus.published,
                created_at=now - dt.timedelta(minutes=n),
            )

        others = [announcement(elsewhere.id, n) for n in range(size)]
        own = [announcement(home.id, n) for n in range(OWN)]
        await Announcement.insert_many([*others, *own])
        await Notification.insert_many(
            [
                Notification(
                    event_key=a.event_key,
                    recipient_id=parent.id,
                    school_id=home.id,
                    topic="announcements",
                    title=a.title,
                    body=a.body,
                )
                for a in own
            ]
        )
        rows = []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            for label, user in (("stranger", stranger), ("parent", parent)):
                login = await http.post(
                    "/api/v1/auth/login", data={"username": user.email, "password": PASSWORD}
                )
                login.raise_for_status()
                headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
                user_cache.forget_all()
                with counting() as trips, announcement_filters() as filters:
                    answer = await http.get("/api/v1/announcements", headers=headers)
                selected = sum([await collection(Announcement).count_documents(f) for f in filters])
                rows.append((label, answer.status_code, sum(trips.values()), selected))
    return rows


def main() -> None:
    print(f"{'in database':>11}  {'caller':<8} {'status':>6} {'round trips':>11} {'selected':>8}")
    for size in SIZES:
        for caller, status, trips, selected in asyncio.run(measure(size)):
            print(f"{size + OWN:>11}  {caller:<8} {status:>6} {trips:>11} {selected:>8}")


if __name__ == "__main__":
    main()
