"""One cheap request may not walk every announcement (issue 18, finding 4).

For anyone but an admin, GET /announcements reads only the announcements of the caller's
own schools (a parent's are their children's), through the (school, newest) index, and a
stranger with no school reads none. What a query may read is measured as the number of
announcements its filter selects: the most an index scan on it could touch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
from beanie import PydanticObjectId
from mongomock_motor import AsyncMongoMockCollection

from app.announcements.models import Announcement, AnnouncementStatus
from app.auth.models import Role, User
from app.core.db import collection
from app.core.security import utcnow
from app.schools.models import School
from tests.conftest import UserFactory, World

LoginAs = Callable[[User], dict[str, str]]
ELSEWHERE = 40


@contextmanager
def announcement_filters() -> Iterator[list[dict[str, Any]]]:
    """The filters of the queries made on the announcements inside the block (the first
    `$match` of a pipeline; a pipeline without one reads them all)."""
    filters: list[dict[str, Any]] = []
    find, aggregate = AsyncMongoMockCollection.find, AsyncMongoMockCollection.aggregate

    def spied_find(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.name == Announcement.get_collection_name():
            filters.append(args[0] if args else kwargs.get("filter") or {})
        return find(self, *args, **kwargs)

    def spied_aggregate(self: Any, pipeline: list[dict[str, Any]], *args: Any, **kw: Any) -> Any:
        if self.name == Announcement.get_collection_name():
            first = pipeline[0] if pipeline else {}
            filters.append(first.get("$match", {}))
        return aggregate(self, pipeline, *args, **kw)

    setattr(AsyncMongoMockCollection, "find", spied_find)  # noqa: B010 (a method swapped in)
    setattr(AsyncMongoMockCollection, "aggregate", spied_aggregate)  # noqa: B010
    try:
        yield filters
    finally:
        setattr(AsyncMongoMockCollection, "find", find)  # noqa: B010
        setattr(AsyncMongoMockCollection, "aggregate", aggregate)  # noqa: B010


async def selected(filters: list[dict[str, Any]]) -> int:
    """How many announcements those queries select, together."""
    return sum([await collection(Announcement).count_documents(f) for f in filters])


async def another_schools_announcements(count: int) -> PydanticObjectId:
    school = School(name="Elsewhere")
    await school.insert()
    assert school.id is not None
    now = utcnow()
    await Announcement.insert_many(
        [
            Announcement(
                school_id=school.id,
                author_id=PydanticObjectId(),
                title=f"Elsewhere {n}",
                body="Not for you",
                publish_at=now - timedelta(minutes=n),
                status=AnnouncementStatus.published,
                created_at=now - timedelta(minutes=n),
            )
            for n in range(count)
        ]
    )
    return school.id


async def listed(
    client: httpx.AsyncClient, user: User, login_as: LoginAs, **params: str
) -> tuple[list[str], int]:
    """The titles the user is shown, and how many announcements the request selected."""
    with announcement_filters() as filters:
        response = await client.get("/announcements", headers=login_as(user), params=params)
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]], await selected(filters)


async def test_a_stranger_with_no_school_reads_no_announcement(
    client: httpx.AsyncClient, world: World, login_as: LoginAs, make_user: UserFactory
) -> None:
    await another_schools_announcements(ELSEWHERE)
    stranger = await make_user(Role.parent)

    titles, read = await listed(client, stranger, login_as)

    assert (titles, read) == ([], 0)


async def test_a_parent_reads_only_their_childs_schools_announcements(
    client: httpx.AsyncClient, world: World, login_as: LoginAs
) -> None:
    elsewhere = await another_schools_announcements(ELSEWHERE)
    for title in ("Closed", "Open again"):
        posted = await client.post(
            "/announcements",
            headers=login_as(world.admin),
            json={
                "school_id": str(world.school.id),
                "title": title,
                "body": "Today",
                "priority": "critical",
            },
        )
        assert posted.status_code == 202, posted.text

    titles, read = await listed(client, world.parent, login_as)
    assert titles == ["Open again", "Closed"]
    assert read == 2  # the two of the child's school, none of the other's

    titles, read = await listed(client, world.parent, login_as, school_id=str(elsewhere))
    assert (titles, read) == ([], 0)
