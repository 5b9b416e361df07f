"""What the events producer costs as events and answers grow: database round trips of the
beat's reminder scan (10 and 1,000 upcoming events, one of them due) and of
GET /events/{id}/rsvps (10 and 1,000 answers). Both must be the same at both sizes: the scan
reads only due events (the indexed `next_reminder_at`), and the list reads one page, its
people's names and its totals (one aggregation) whatever the number of answers.

    uv run python bench/events.py
"""

from __future__ import annotations

import asyncio
import datetime as dt

from _round_trips_counter import counting

SIZES = (10, 1_000)


async def measure(size: int) -> tuple[int, int, int]:
    """(round trips of a scan with one event due, of a scan with none due, of the list) with
    `size` upcoming events and `size` answers to one of them."""
    import httpx
    from beanie import PydanticObjectId
    from mongomock_motor import AsyncMongoMockClient
    from round_trips import bench_settings

    from app.auth.models import Role, User
    from app.core.security import create_access_token, utcnow
    from app.events import notices
    from app.events.models import Answer, Event, Rsvp, RsvpStatus
    from app.main import create_app
    from app.schools.models import School

    settings = bench_settings()
    app = create_app(settings, mongo_client=AsyncMongoMockClient(tz_aware=True))
    async with app.router.lifespan_context(app):
        now = utcnow()
        school = School(name="Bench school")
        await school.insert()
        assert school.id is not None
        admin = User(
            email="admin@bench.example.org",
            full_name="Admin",
            role=Role.admin,
            password_hash="unused",
            school_ids=[school.id],
            email_verified=True,
        )
        await admin.insert()
        people = [
            User(
                email=f"p{n}@bench.example.org",
                full_name=f"Parent {n}",
                role=Role.parent,
                password_hash="unused",
            )
            for n in range(size)
        ]
        await User.insert_many(people)
        saved = await User.find({"role": Role.parent}).to_list()

        def event(n: int, *, due: bool) -> Event:
            starts = now + dt.timedelta(days=2 + n % 30, minutes=n)
            return Event(
                school_id=school.id,
                author_id=admin.id,
                title=f"Event {n}",
                starts_at=starts,
                ends_at=starts + dt.timedelta(hours=1),
                next_reminder_at=now - dt.timedelta(minutes=1)
                if due
                else starts - dt.timedelta(hours=24),
            )

        upcoming = [event(n, due=False) for n in range(size)]
        due = event(size, due=True)
        due.starts_at = now + dt.timedelta(hours=23)
        await Event.insert_many([*upcoming, due])
        due = await Event.find_one({"title": f"Event {size}"})  # type: ignore[assignment]
        assert due is not None and due.id is not None
        await Rsvp.insert_many(
            [
                Rsvp(
                    event_id=due.id,
                    user_id=user.id or PydanticObjectId(),
                    answer=Answer.yes if n % 3 else Answer.no,
                    status=RsvpStatus.confirmed,
                    people=1 if n % 3 else 0,
                )
                for n, user in enumerate(saved)
            ]
        )
        # The reminder's own work (its recipients' notifications, written in batches of
        # 1,000) is outside the scan: one answerer keeps it the same size at both sizes.
        await Rsvp.find({"event_id": due.id, "user_id": {"$ne": saved[1].id}}).update(
            {"$set": {"answer": Answer.no}}
        )
        with counting() as one_due:
            reminded = await notices.remind_due(now=now)
        assert reminded == 1
        with counting() as none_due:
            assert await notices.remind_due(now=now) == 0

        token, _ = create_access_token(
            user_id=str(admin.id), secret=settings.secret, minutes=settings.access_token_minutes
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            with counting() as listing:
                response = await http.get(
                    f"/api/v1/events/{due.id}/rsvps",
                    headers={"Authorization": f"Bearer {token}"},
                )
            assert response.status_code == 200, response.text
            assert response.json()["totals"]["no"] == size - 1
        return sum(one_due.values()), sum(none_due.values()), sum(listing.values())


def main() -> None:
    print("events: database round trips")
    print(f"{'size':>6} {'scan, 1 due':>12} {'scan, none due':>15} {'GET rsvps':>10}")
    figures = {size: asyncio.run(measure(size)) for size in SIZES}
    for size, (one, none, listing) in figures.items():
        print(f"{size:>6} {one:>12} {none:>15} {listing:>10}")
    first, *rest = figures.values()
    same = all(f == first for f in rest)
    print("same at every size" if same else "GROWS WITH SIZE")


if __name__ == "__main__":
    main()
