"""Database round trips of POST /schools/{id}/import for files of 100 and 2,000 rows.

Each file is a school's new classes of 25 students (every student with two parents'
addresses, every class with two teachers), imported as a dry run, then for real, then again
(nothing to do). The figures must be the same for both sizes: the import reads and writes
in batches, never once per row. Work the request hands to the workers (sending the
invitations and codes it wrote to the outbox) is not the request's and is not counted;
mongomock answers from memory, so time says nothing (see _round_trips_counter).

    uv run python bench/import_round_trips.py
"""

from __future__ import annotations

import asyncio
from typing import Any

from _round_trips_counter import counting

SIZES = (100, 2_000)
# Each size on a fresh database; 2,000 rows take minutes on mongomock (see above).
CLASS_SIZE = 25
PASSWORD = "bench-password-long-enough"


def spreadsheet(rows: int) -> bytes:
    lines = ["role,full_name,email,class,subjects,parent_emails,locale"]
    classes = max(1, rows // (CLASS_SIZE + 2))
    for n in range(classes):
        name = f"{5 + n % 7}{chr(ord('A') + n // 7)}"
        lines.append(f"teacher,Math Teacher {n},math{n}@bench.example.org,{name},math,,ru")
        lines.append(f"teacher,History Teacher {n},hist{n}@bench.example.org,{name},history,,en")
    n = 0
    while len(lines) - 1 < rows:
        name = f"{5 + (n // CLASS_SIZE) % 7}{chr(ord('A') + (n // CLASS_SIZE) // 7)}"
        parents = f"mum{n}@bench.example.org;dad{n}@bench.example.org"
        email = f"child{n}@bench.example.org" if n % 2 else ""
        lines.append(f"student,Child {n},{email},{name},,{parents},ru")
        n += 1
    return ("\r\n".join(lines) + "\r\n").encode()


async def not_sent(*args: Any, **kwargs: Any) -> None:
    """Stands in for enqueueing: sending what the outbox holds is the workers' part."""


async def measure(rows: int) -> list[tuple[str, int, int]]:
    import httpx
    from mongomock_motor import AsyncMongoMockClient
    from round_trips import bench_settings

    from app.auth import user_cache
    from app.auth.models import Role, User
    from app.core import jobs
    from app.core.security import hash_password
    from app.main import create_app
    from app.schools.models import School

    app = create_app(
        bench_settings(max_body_bytes=10 * 1024 * 1024),
        mongo_client=AsyncMongoMockClient(tz_aware=True),
    )
    async with app.router.lifespan_context(app):
        school = School(name="Bench School")
        await school.insert()
        assert school.id is not None
        admin = User(
            email="admin@bench.example.org",
            full_name="Admin",
            role=Role.admin,
            password_hash=hash_password(PASSWORD),
            school_ids=[school.id],
            email_verified=True,
        )
        await admin.insert()
        content = spreadsheet(rows)
        measured = []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            login = await http.post(
                "/api/v1/auth/login", data={"username": admin.email, "password": PASSWORD}
            )
            login.raise_for_status()
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            for label, dry_run in (("dry run", True), ("import", False), ("again", False)):
                user_cache.forget_all()
                original = jobs.enqueue
                jobs.enqueue = not_sent
                try:
                    with counting(this_task_only=True) as trips:
                        answer = await http.post(
                            f"/api/v1/schools/{school.id}/import",
                            params={"dry_run": str(dry_run).lower()},
                            files={"file": ("people.csv", content)},
                            headers=headers,
                        )
                finally:
                    jobs.enqueue = original
                assert answer.status_code == 200, answer.text
                measured.append((label, answer.status_code, sum(trips.values())))
    return measured


def main() -> None:
    print(f"{'rows':>5}  {'request':<8} {'status':>6} {'round trips':>11}")
    for rows in SIZES:
        for label, status, trips in asyncio.run(measure(rows)):
            print(f"{rows:>5}  {label:<8} {status:>6} {trips:>11}")


if __name__ == "__main__":
    main()
