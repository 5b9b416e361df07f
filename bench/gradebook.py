"""Database round trips of the class register: GET .../gradebook for a class of 30 and of
300 students (ten lessons of grades each), and POST /grades/batch of 30 grades before it
answers (its notices are a job the workers run afterwards, so the job is recorded here,
not run). Cold: the caller not remembered (the first request after a login); warm: the
same again at once. mongomock answers from memory, so time says nothing
(see _round_trips_counter).

    uv run python bench/gradebook.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from _round_trips_counter import counting

SIZES = (30, 300)
LESSONS = 10
BATCH = 30
PASSWORD = "bench-password-long-enough"


class RecordingDispatcher:
    """Takes jobs as a broker would, without running them."""

    def __init__(self) -> None:
        self.jobs: list[str] = []

    async def enqueue(self, name: str, *, countdown: float, request_id: Any, **kw: Any) -> None:
        self.jobs.append(name)


async def measure(size: int) -> list[tuple[str, int, int]]:
    """(request, status, round trips) for a class of `size` students."""
    import httpx
    from beanie import PydanticObjectId
    from mongomock_motor import AsyncMongoMockClient
    from round_trips import bench_settings

    from app.auth import user_cache
    from app.auth.models import Role, User
    from app.core import jobs
    from app.core.security import hash_password
    from app.grades.models import Grade
    from app.main import create_app
    from app.schools.models import School, SchoolClass, TeacherAssignment

    app = create_app(bench_settings(), mongo_client=AsyncMongoMockClient(tz_aware=True))
    async with app.router.lifespan_context(app):
        jobs.use_dispatcher(RecordingDispatcher())
        school_id = PydanticObjectId()
        password_hash = hash_password(PASSWORD)

        def person(role: Role, name: str) -> User:
            return User(
                id=PydanticObjectId(),
                email=f"{name}@bench.example.org",
                full_name=name.replace(".", " ").title(),
                role=role,
                password_hash=password_hash,
                school_ids=[school_id],
                email_verified=True,
            )

        teacher = person(Role.teacher, "teacher")
        students = [person(Role.student, f"student.{n:03d}") for n in range(size)]
        await User.insert_many([teacher, *students])
        school_class = SchoolClass(
            name="5A",
            student_ids=[s.id for s in students if s.id is not None],
            teachers=[TeacherAssignment(teacher_id=teacher.id, subjects=["math"])],
        )
        school = School(id=school_id, name="Bench", timezone="UTC", classes=[school_class])
        await school.insert()
        first_day = dt.datetime(2025, 9, 1, tzinfo=dt.UTC)
        await Grade.insert_many(
            [
                Grade(
                    school_id=school_id,
                    class_id=school_class.id,
                    student_id=s.id,
                    teacher_id=teacher.id,
                    subject="math",
                    value=2 + (n + lesson) % 4,
                    date=first_day + dt.timedelta(days=lesson),
                )
                for n, s in enumerate(students)
                for lesson in range(LESSONS)
            ]
        )
        rows = []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            login = await http.post(
                "/api/v1/auth/login", data={"username": teacher.email, "password": PASSWORD}
            )
            login.raise_for_status()
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            url = f"/api/v1/schools/{school_id}/classes/{school_class.id}/gradebook?subject=math"
            for label in ("cold", "warm"):
                if label == "cold":
                    user_cache.forget_all()
                with counting() as trips:
                    answer = await http.get(url, headers=headers)
                assert len(answer.json()["students"]) == size, answer.text
                rows.append((f"GET gradebook ({label})", answer.status_code, sum(trips.values())))
            batch = {
                "class_id": str(school_class.id),
                "subject": "math",
                "date": "2025-10-01",
                "grades": [{"student_id": str(s.id), "value": 4} for s in students[:BATCH]],
            }
            with counting() as trips:
                answer = await http.post("/api/v1/grades/batch", json=batch, headers=headers)
            assert answer.status_code == 201, answer.text
            rows.append((f"POST batch of {BATCH}", answer.status_code, sum(trips.values())))
    return rows


def main() -> None:
    print(f"{'students':>8}  {'request':<22} {'status':>6} {'round trips':>11}")
    for size in SIZES:
        for request, status, trips in asyncio.run(measure(size)):
            print(f"{size:>8}  {request:<22} {status:>6} {trips:>11}")


if __name__ == "__main__":
    main()
