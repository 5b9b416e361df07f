"""Database round trips of the message routes, at two sizes.

A parent with `size` conversations (one per teacher of their child's class), the first of
which holds `size` messages, reads their conversation list and that conversation's
messages, cold (the caller not remembered: the first request after a login) and warm (the
same again at once). Both must stay at 3 or fewer whatever the size: the list reads its
unread counts from counters on the conversations and the names in one query, and a
conversation's page is the participant check and one query. Writing a message and marking
a conversation read are printed too, for reference. The driver is wrapped to count calls
(see _round_trips_counter); mongomock answers from memory, so time says nothing.

    uv run python bench/messages_round_trips.py
"""

from __future__ import annotations

import asyncio
from typing import Any

from _round_trips_counter import counting

SIZES = (20, 200)
PASSWORD = "bench-password-long-enough"


async def measure(size: int) -> list[tuple[str, int, int]]:
    """(request, status, round trips) for a parent with `size` conversations."""
    import httpx
    from beanie import PydanticObjectId
    from mongomock_motor import AsyncMongoMockClient
    from round_trips import bench_settings

    from app.auth import user_cache
    from app.auth.models import Role, User
    from app.core.security import hash_password
    from app.main import create_app
    from app.schools.models import GuardianLink, School, SchoolClass, TeacherAssignment

    app = create_app(bench_settings(), mongo_client=AsyncMongoMockClient(tz_aware=True))
    rows: list[tuple[str, int, int]] = []
    async with app.router.lifespan_context(app):
        school = School(name="Bench")
        await school.insert()
        assert school.id is not None
        password_hash = hash_password(PASSWORD)

        def person(role: Role, name: str) -> User:
            return User(
                id=PydanticObjectId(),
                email=f"{name}@bench.example.org",
                full_name=name.title(),
                role=role,
                password_hash=password_hash,
                school_ids=[] if role == Role.parent else [school.id],
                email_verified=True,
            )

        parent, child = person(Role.parent, "parent"), person(Role.student, "child")
        teachers = [person(Role.teacher, f"teacher{n}") for n in range(size)]
        await User.insert_many([parent, child, *teachers])
        assert parent.id is not None and child.id is not None
        school.classes.append(
            SchoolClass(
                name="5A",
                student_ids=[child.id],
                teachers=[
                    TeacherAssignment(teacher_id=t.id, subjects=[f"s{n}"])
                    for n, t in enumerate(teachers)
                    if t.id is not None
                ],
            )
        )
        await school.save()
        await GuardianLink(parent_id=parent.id, student_id=child.id).insert()

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench/api/v1") as http:
            login = await http.post(
                "/auth/login", data={"username": parent.email, "password": PASSWORD}
            )
            login.raise_for_status()
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            first = ""
            for teacher in reversed(teachers):
                answer = await http.post(
                    "/conversations",
                    headers=headers,
                    json={"participant_id": str(teacher.id), "subject": "Hello", "text": "Hi"},
                )
                answer.raise_for_status()
                first = answer.json()["id"]
            messages = f"/conversations/{first}/messages"
            for n in range(size - 1):
                (
                    await http.post(messages, headers=headers, json={"text": f"M{n}"})
                ).raise_for_status()

            async def counted(label: str, method: str, url: str, **options: Any) -> None:
                with counting() as trips:
                    answer = await http.request(method, url, headers=headers, **options)
                rows.append((label, answer.status_code, sum(trips.values())))

            async def fewest(label: str, url: str, *, cold: bool) -> None:
                # The fewest of two tries: the job relay's poll (every 5 s, in the
                # background) may land inside one of them.
                tries: list[tuple[int, int]] = []
                for _ in range(2):
                    if cold:
                        user_cache.forget_all()
                    with counting() as trips:
                        answer = await http.get(url, headers=headers)
                    tries.append((sum(trips.values()), answer.status_code))
                trips_taken, status = min(tries)
                rows.append((f"{label} ({'cold' if cold else 'warm'})", status, trips_taken))

            for label, url in (
                ("GET /conversations", "/conversations"),
                ("GET …/messages", messages),
            ):
                await fewest(label, url, cold=True)
                await fewest(label, url, cold=False)
            await counted("POST …/messages", "POST", messages, json={"text": "One more"})
            await counted("POST …/read", "POST", f"/conversations/{first}/read")
    return rows


def main() -> None:
    print(f"{'size':>5}  {'request':<30} {'status':>6} {'round trips':>11}")
    for size in SIZES:
        for label, status, trips in asyncio.run(measure(size)):
            print(f"{size:>5}  {label:<30} {status:>6} {trips:>11}")


if __name__ == "__main__":
    main()
