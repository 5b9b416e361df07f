"""Database round trips of the week views, for a class of 30 and of 300 with a term of
changes: GET /students/{id}/timetable as the student, a linked parent, a teacher of the
class and the admin, and GET /teachers/{id}/timetable as the teacher and the admin.

Each request is measured cold (the caller not remembered, as after a login) and warm (the
same again at once). The driver is wrapped to count the calls that would each be one round
trip to MongoDB (see _round_trips_counter); mongomock answers from memory, so time says
nothing. The figures must not grow with the class or the term.

    uv run python bench/timetable_round_trips.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from dataclasses import dataclass

from _round_trips_counter import counting
from round_trips import bench_settings, forget_callers

CLASS_SIZES = (30, 300)
TERM_WEEKS = 16
CHANGES_PER_WEEK = 6
OTHER_CLASSES = 8
SUBJECTS = ("math", "russian", "literature", "history", "physics", "english")
JOBS = ("jobs",)


@dataclass(frozen=True)
class Row:
    route: str
    week: str
    caller: str
    size: int
    cold: Counter[str]
    warm: Counter[str]


async def measure(size: int) -> list[Row]:
    import httpx
    from beanie import PydanticObjectId
    from mongomock_motor import AsyncMongoMockClient

    from app.auth.models import Role, User
    from app.core.security import create_access_token
    from app.main import create_app
    from app.schools.models import GuardianLink, School, SchoolClass, TeacherAssignment
    from app.timetable.models import ChangeKind, ClassTimetable, Lesson, TimetableChange
    from app.timetable.weeks import as_stored, label, this_monday

    settings = bench_settings()
    app = create_app(settings, mongo_client=AsyncMongoMockClient(tz_aware=True))
    async with app.router.lifespan_context(app):
        school_id = PydanticObjectId()

        def person(role: Role, name: str) -> User:
            return User(
                id=PydanticObjectId(),
                email=f"{name}@bench.example.org",
                full_name=name,
                role=role,
                password_hash="-",
                school_ids=[] if role == Role.parent else [school_id],
                email_verified=True,
            )

        admin = person(Role.admin, "admin")
        teacher = person(Role.teacher, "teacher")
        students = [person(Role.student, f"student.{n}") for n in range(size)]
        parents = [person(Role.parent, f"parent.{n}") for n in range(size)]
        assignment = TeacherAssignment(teacher_id=teacher.id, subjects=list(SUBJECTS))
        classes = [
            SchoolClass(
                name=f"{5 + n}A",
                student_ids=[s.id for s in students] if n == 0 else [],
                teachers=[assignment],
            )
            for n in range(1 + OTHER_CLASSES)
        ]
        await School(id=school_id, name="Bench", timezone="Europe/Moscow", classes=classes).insert()
        await User.insert_many([admin, teacher, *students, *parents])
        await GuardianLink.insert_many(
            [
                GuardianLink(parent_id=p.id, student_id=s.id)
                for p, s in zip(parents, students, strict=True)
            ]
        )
        await ClassTimetable.insert_many(
            [
                ClassTimetable(
                    id=c.id,
                    school_id=school_id,
                    lessons=[
                        Lesson(
                            weekday=weekday,
                            period=period,
                            starts=f"{7 + period:02d}:30",
                            ends=f"{8 + period:02d}:15",
                            subject=SUBJECTS[(weekday + period) % len(SUBJECTS)],
                            teacher_id=teacher.id,
                            room=str(period),
                        )
                        for weekday in range(1, 6)
                        for period in range(1, 7)
                    ],
                )
                for c in classes
            ]
        )
        monday = this_monday("Europe/Moscow")
        await TimetableChange.insert_many(
            [
                TimetableChange(
                    school_id=school_id,
                    class_id=c.id,
                    date=as_stored(monday - dt.timedelta(weeks=w) + dt.timedelta(days=n % 5)),
                    period=1 + n % 6,
                    kind=ChangeKind.room,
                    room="Gym",
                )
                for c in classes
                for w in range(TERM_WEEKS)
                for n in range(CHANGES_PER_WEEK)
            ]
        )

        def headers(user: User) -> dict[str, str]:
            token, _ = create_access_token(user_id=str(user.id), secret=settings.secret, minutes=15)
            return {"Authorization": f"Bearer {token}"}

        week = label(monday)
        student_path = f"/students/{students[0].id}/timetable"
        teacher_path = f"/teachers/{teacher.id}/timetable"
        requests: list[tuple[str, str, str, User]] = [
            ("/students/{id}/timetable", f"?week={week}", "student", students[0]),
            ("/students/{id}/timetable", f"?week={week}", "parent", parents[0]),
            ("/students/{id}/timetable", f"?week={week}", "teacher", teacher),
            ("/students/{id}/timetable", f"?week={week}", "admin", admin),
            ("/students/{id}/timetable", "", "parent", parents[0]),
            ("/teachers/{id}/timetable", f"?week={week}", "teacher", teacher),
            ("/teachers/{id}/timetable", f"?week={week}", "admin", admin),
            ("/teachers/{id}/timetable", "", "teacher", teacher),
        ]
        rows: list[Row] = []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench/api/v1") as http:
            for route, query, caller, user in requests:
                path = student_path if route.startswith("/students") else teacher_path
                forget_callers()
                # The job relay polls `jobs` in the background: not this request's.
                with counting(leaving_out=JOBS) as cold:
                    answer = await http.get(path + query, headers=headers(user))
                with counting(leaving_out=JOBS) as warm:
                    await http.get(path + query, headers=headers(user))
                assert answer.status_code == 200, answer.text
                rows.append(Row(route, "week" if query else "none", caller, size, cold, warm))
    return rows


def main() -> None:
    print(f"{'GET':<26} {'week':<5} {'caller':<8} {'class':>5} {'cold':>4} {'warm':>4}  cold calls")
    rows = [row for size in CLASS_SIZES for row in asyncio.run(measure(size))]
    for row in rows:
        calls = ", ".join(f"{name} {n}" for name, n in sorted(row.cold.items()))
        print(
            f"{row.route:<26} {row.week:<5} {row.caller:<8} {row.size:>5} "
            f"{sum(row.cold.values()):>4} {sum(row.warm.values()):>4}  {calls}"
        )
    for size in CLASS_SIZES:
        mine = [r for r in rows if r.size == size]
        print(
            f"class of {size}, {TERM_WEEKS} weeks of changes: max round trips per request "
            f"{max(sum(r.cold.values()) for r in mine)} cold, "
            f"{max(sum(r.warm.values()) for r in mine)} warm"
        )


if __name__ == "__main__":
    main()
