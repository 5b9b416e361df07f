"""Database round trips of the school-day reads of a student, GET /students/{id}/homework
and GET /students/{id}/attendance (items and totals), for a class of 30 and of 300 with a
term of data, as every reader the product allows: the student, a linked parent, a teacher
of the class and the school's admin. At most 3 each, cold, whatever the class or the term.

Each size seeds one school with one class, a term (90 school days) of homework in three
subjects and a term of attendance marks for every student, then asks as each reader, cold
(the caller not remembered) and warm, and counts the calls that would each be one round
trip to MongoDB (see _round_trips_counter; mongomock answers from memory, so time says
nothing; the job relay's background poll of `jobs` is left out). "the feature's reads"
counts the service call alone: the route's own reads beyond the token check and the
student access check (the student, their classes and the reader's relation, one query).

    uv run python bench/school_day.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _round_trips_counter import counting  # noqa: E402

CLASS_SIZES = (30, 300)
TERM_DAYS = 90
SUBJECTS = ("math", "russian", "history")
# One mark in this many school days per student: absent, late or excused in turn.
MARK_EVERY = 6
JOBS = ("jobs",)


READERS = ("student", "parent", "teacher", "admin")


async def measure(class_size: int) -> list[tuple[str, str, int, int, int, int]]:
    """(route, reader, status, cold round trips, warm round trips, the feature's reads) for
    a class of `class_size` with a term of data."""
    import httpx
    from beanie import PydanticObjectId
    from mongomock_motor import AsyncMongoMockClient
    from round_trips import bench_settings

    from app.attendance import service as attendance
    from app.attendance.models import AttendanceMark, MarkStatus
    from app.auth import user_cache
    from app.auth.models import Role, User
    from app.core.pagination import PageParams
    from app.core.security import create_access_token
    from app.homework import service as homework
    from app.homework.models import Homework
    from app.main import create_app
    from app.schools.models import GuardianLink, School, SchoolClass, TeacherAssignment

    settings = bench_settings()
    app = create_app(settings, mongo_client=AsyncMongoMockClient(tz_aware=True))
    async with app.router.lifespan_context(app):
        school = School(name="Bench school", timezone="Europe/Moscow")

        def person(role: Role, name: str) -> User:
            return User(
                id=PydanticObjectId(),
                email=f"{name}@bench.example.org",
                full_name=name.title(),
                role=role,
                password_hash="-",
                email_verified=True,
            )

        students = [person(Role.student, f"student.{n}") for n in range(class_size)]
        teacher = person(Role.teacher, "teacher")
        admin = person(Role.admin, "admin")
        parent = person(Role.parent, "parent")
        school_class = SchoolClass(
            name="5A",
            student_ids=[s.id for s in students if s.id is not None],
            teachers=[TeacherAssignment(teacher_id=teacher.id, subjects=list(SUBJECTS))],
        )
        school.classes.append(school_class)
        await school.insert()
        assert school.id is not None
        for user in (*students, teacher, admin):
            user.school_ids = [school.id]
        await User.insert_many([*students, teacher, admin])
        await parent.insert()
        child = students[0]
        assert parent.id is not None and child.id is not None and teacher.id is not None
        await GuardianLink(parent_id=parent.id, student_id=child.id).insert()

        first = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
        days = [first + dt.timedelta(days=n) for n in range(TERM_DAYS)]
        await Homework.insert_many(
            [
                Homework(
                    school_id=school.id,
                    class_id=school_class.id,
                    subject=subject,
                    author_id=teacher.id,
                    due=day,
                    text=f"{subject} for {day.date()}",
                )
                for day in days
                for subject in SUBJECTS
            ]
        )
        statuses = (MarkStatus.absent, MarkStatus.late, MarkStatus.excused)
        await AttendanceMark.insert_many(
            [
                AttendanceMark(
                    school_id=school.id,
                    class_id=school_class.id,
                    student_id=student.id,
                    date=day,
                    period=1,
                    status=statuses[(n + number) % 3],
                    marked_by=teacher.id,
                )
                for number, student in enumerate(students)
                for n, day in enumerate(days)
                if (n + number) % MARK_EVERY == 0
            ]
        )

        term = {"from": "2026-09-01", "to": "2026-11-29"}
        routes = (
            ("homework", f"/api/v1/students/{child.id}/homework"),
            ("attendance", f"/api/v1/students/{child.id}/attendance"),
        )
        start, end = dt.date(2026, 9, 1), dt.date(2026, 11, 29)
        with counting() as listed:
            await homework.list_student_homework(
                class_ids=[school_class.id],
                locale="en",
                page=PageParams(limit=50, cursor=None),
                date_from=start,
                date_to=end,
            )
        with counting() as totalled:
            await attendance.student_attendance(student_id=child.id, date_from=start, date_to=end)
        own = {"homework": sum(listed.values()), "attendance": sum(totalled.values())}

        readers = {"student": child, "parent": parent, "teacher": teacher, "admin": admin}
        rows = []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            for name, path in routes:
                for reader in READERS:
                    user = readers[reader]
                    token, _ = create_access_token(
                        user_id=str(user.id), secret=settings.secret, minutes=15
                    )
                    headers = {"Authorization": f"Bearer {token}"}
                    user_cache.forget_all()
                    with counting(leaving_out=JOBS) as cold:
                        answer = await http.get(path, params=term, headers=headers)
                    with counting(leaving_out=JOBS) as warm:
                        await http.get(path, params=term, headers=headers)
                    assert answer.status_code == 200, answer.text
                    assert answer.json()["items"], f"{reader} read no {name}"
                    rows.append(
                        (
                            name,
                            reader,
                            answer.status_code,
                            sum(cold.values()),
                            sum(warm.values()),
                            own[name],
                        )
                    )
    return rows


def main() -> None:
    print(f"A student's school day, a term of {TERM_DAYS} days, round trips per request")
    print(
        f"{'class':>6}  {'route':<11} {'reader':<8} {'status':>6}  {'cold':>4}  {'warm':>4}  "
        "feature's reads"
    )
    for size in CLASS_SIZES:
        rows = asyncio.run(measure(size))
        for name, reader, status, cold, warm, own in rows:
            print(f"{size:>6}  {name:<11} {reader:<8} {status:>6}  {cold:>4}  {warm:>4}  {own}")
        print(
            f"class of {size}: max round trips per request "
            f"{max(row[3] for row in rows)} cold, {max(row[4] for row in rows)} warm"
        )


if __name__ == "__main__":
    main()
