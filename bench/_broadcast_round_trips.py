"""Round trips of one broadcast, from the POST to the last email (`round_trips.py
--broadcast`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from _seeded_school import PASSWORD, bench_settings


class CollectingDispatcher:
    """Keeps the jobs asked for, so each phase of a broadcast is run and counted apart."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, dict[str, Any]]] = []

    async def enqueue(
        self, name: str, *, countdown: float, request_id: str | None, **kwargs: Any
    ) -> None:
        if countdown <= 0:
            self.asked.append((name, kwargs))


async def measure_broadcast(size: int) -> None:
    """An announcement to a school's `size` students, from the POST to the last email: round
    trips of the request, of the fan-out per 1,000 recipients, and of sending per email
    (to the file transport, so only the database is counted)."""
    import tempfile
    from pathlib import Path

    import httpx
    from _round_trips_counter import counting
    from beanie import PydanticObjectId
    from mongomock_motor import AsyncMongoMockClient

    from app.auth import user_cache
    from app.auth.models import Role, User
    from app.core import jobs
    from app.core.security import hash_password
    from app.delivery.models import Email, EmailStatus
    from app.main import create_app
    from app.schools.models import School

    data_dir = Path(tempfile.mkdtemp(prefix="bench-broadcast-"))
    settings = bench_settings(
        SCHOOLBELL_DATA_DIR=data_dir,
        email_rate_per_second=10_000,
    )
    dispatcher = CollectingDispatcher()
    app = create_app(
        settings, mongo_client=AsyncMongoMockClient(tz_aware=True), dispatcher=dispatcher
    )
    async with app.router.lifespan_context(app):
        school_id = PydanticObjectId()
        await School(id=school_id, name="Bench school", timezone="Europe/Moscow").insert()
        password_hash = hash_password(PASSWORD)
        admin = User(
            email="admin@broadcast.example.org",
            full_name="Admin",
            role=Role.admin,
            password_hash=password_hash,
            school_ids=[school_id],
            email_verified=True,
        )
        await admin.insert()
        await User.get_motor_collection().insert_many(
            [
                User(
                    email=f"s{n}@broadcast.example.org",
                    full_name=f"Student {n}",
                    role=Role.student,
                    password_hash="-",
                    school_ids=[school_id],
                ).model_dump(by_alias=True, exclude={"id"})
                for n in range(size)
            ]
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            login = await http.post(
                "/api/v1/auth/login", data={"username": admin.email, "password": PASSWORD}
            )
            login.raise_for_status()
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            with counting() as request:
                answer = await http.post(
                    "/api/v1/announcements",
                    headers=headers,
                    json={
                        "school_id": str(school_id),
                        "title": "Concert",
                        "body": "Friday at 18:00",
                        "roles": ["student"],
                        "requires_ack": True,
                    },
                )
            answer.raise_for_status()
        phases: dict[str, Counter[str]] = {"fan-out": Counter(), "sending": Counter()}
        while dispatcher.asked:
            name, kwargs = dispatcher.asked.pop(0)
            phase = "sending" if name == "delivery.send_emails" else "fan-out"
            with counting() as trips:
                await jobs.run(name, kwargs, request_id=None)
            phases[phase] += trips
        # The students asked to acknowledge: the list's first page, and the figures with
        # their counts, must cost the same whatever the audience.
        announcement = f"/api/v1/announcements/{answer.json()['id']}"
        reads: list[str] = []
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            # A large fan-out can outlast the first token: sign in again, uncounted.
            login = await http.post(
                "/api/v1/auth/login", data={"username": admin.email, "password": PASSWORD}
            )
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            for path in (f"{announcement}/acks", announcement):
                user_cache.forget_all()  # cold, as a fan-out that took a while leaves it
                with counting() as trips:
                    (await http.get(path, headers=headers)).raise_for_status()
                shown = path.replace(answer.json()["id"], "{id}")
                reads.append(f"  GET {shown}: {sum(trips.values())} round trips")
    sent = await Email.find({"status": EmailStatus.sent}).count()
    fan_out, sending = sum(phases["fan-out"].values()), sum(phases["sending"].values())
    print(
        f"\nbroadcast to {size:,} students: the POST {sum(request.values())} round trips; "
        f"fan-out {fan_out} ({fan_out / (size / 1000):.1f} per 1,000 recipients); "
        f"{sent:,} emails sent in {sending} round trips ({sending / max(sent, 1):.3f} per email)"
    )
    print(f"  fan-out calls: {dict(sorted(phases['fan-out'].items()))}")
    print(f"  sending calls: {dict(sorted(phases['sending'].items()))}")
    print("\n".join(reads))
