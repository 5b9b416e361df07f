"""A school's first week: a class imported from a spreadsheet, a parent joining from the
code email."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from app.auth.models import Role, User
from app.core.security import create_access_token
from app.main import create_app
from app.schools.models import School, SchoolClass, TeacherAssignment
from tests.auth.conftest import mailed_token
from tests.conftest import default_password_hash, make_settings
from tests.real_mongodb.opening import (
    MONGODB_URL,
    REAL_MONGODB_ONLY,
)

pytestmark = REAL_MONGODB_ONLY


async def test_a_class_imported_from_a_spreadsheet_on_real_mongodb(tmp_path: Path) -> None:
    from app.schools.models import GuardianCode, School

    database = f"schoolbell_test_{uuid.uuid4().hex[:12]}"
    settings = make_settings(tmp_path / "data", mongodb_url=MONGODB_URL, mongodb_db=database)
    app = create_app(settings)
    sheet = (
        b"role,full_name,email,class,subjects,parent_emails,locale\r\n"
        b"teacher,Irina Petrova,irina@real.example.org,5A,math;geometry,,ru\r\n"
        b"student,Masha Ivanova,,5A,,mum@real.example.org;dad@real.example.org,ru\r\n"
        b"student,Petya Smirnov,petya@real.example.org,5A,,olga@real.example.org,en\r\n"
    )
    try:
        async with app.router.lifespan_context(app):
            school = School(name="Real")
            await school.insert()
            admin = User(
                email="admin@real.example.org",
                full_name="Admin",
                role=Role.admin,
                password_hash=default_password_hash(),
                school_ids=[school.id],
            )
            await admin.insert()
            token, _ = create_access_token(
                user_id=str(admin.id), secret=settings.secret, minutes=15
            )
            headers = {"Authorization": f"Bearer {token}"}
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://test/api/v1"
            ) as client:
                url = f"/schools/{school.id}/import"
                files = {"file": ("5A.csv", sheet)}
                dry = await client.post(
                    url, params={"dry_run": "true"}, files=files, headers=headers
                )
                assert dry.status_code == 200, dry.text
                assert await User.find({"role": "student"}).count() == 0
                first = await client.post(url, files=files, headers=headers)
                assert first.status_code == 200, first.text
                assert first.json()["created"] == dry.json()["created"]
                again = await client.post(url, files=files, headers=headers)
                assert again.json()["unchanged"] == 3
            stored = await School.get(school.id)
            assert stored is not None
            [class_5a] = stored.classes
            assert len(class_5a.student_ids) == 2 and len(class_5a.teachers) == 1
            assert class_5a.teachers[0].subjects == ["math", "geometry"]
            assert await GuardianCode.count() == 3
    finally:
        await app.state.mongo_client.drop_database(database)


async def test_a_parent_joins_from_the_code_email_and_lists_are_named_on_real_mongodb(
    tmp_path: Path,
) -> None:
    database = f"schoolbell_test_{uuid.uuid4().hex[:12]}"
    settings = make_settings(tmp_path / "data", mongodb_url=MONGODB_URL, mongodb_db=database)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            school = School(name="Real", classes=[])
            await school.insert()
            assert school.id is not None
            people = {}
            for role in (Role.admin, Role.teacher, Role.student):
                people[role] = User(
                    email=f"{role.value}@join.example.org",
                    full_name=f"{role.value.title()} Real",
                    role=role,
                    password_hash=default_password_hash(),
                    school_ids=[school.id],
                    email_verified=True,
                )
                await people[role].insert()
            admin, teacher, student = people[Role.admin], people[Role.teacher], people[Role.student]
            assert teacher.id is not None and student.id is not None
            school.classes.append(
                SchoolClass(
                    name="5A",
                    student_ids=[student.id],
                    teachers=[TeacherAssignment(teacher_id=teacher.id, subjects=["math"])],
                )
            )
            await school.save()

            def auth(user: User) -> dict[str, str]:
                token, _ = create_access_token(
                    user_id=str(user.id), secret=settings.secret, minutes=15
                )
                return {"Authorization": f"Bearer {token}"}

            transport = httpx.ASGITransport(app=app)
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as client,
                httpx.AsyncClient(transport=transport, base_url="http://test") as site,
            ):
                issued = await client.post(
                    f"/students/{student.id}/guardian-codes",
                    json={"email": "dad@join.example.org"},
                    headers=auth(admin),
                )
                assert issued.status_code == 201, issued.text
                code = issued.json()["code"]
                assert (await site.get("/join", params={"code": code})).status_code == 200
                joined = await site.post(
                    "/join/new",
                    data={
                        "code": code,
                        "new_full_name": "Dad Real",
                        "new_password": "dad-password-1",
                        "new_password_again": "dad-password-1",
                        "new_locale": "en",
                    },
                )
                assert joined.status_code == 202, joined.text
                token = mailed_token(settings, to="dad@join.example.org", path="verify-email")
                assert (await site.post("/verify-email", data={"token": token})).status_code == 200
                guardians = await client.get(
                    f"/students/{student.id}/guardians", headers=auth(teacher)
                )
                assert [g["full_name"] for g in guardians.json()["items"]] == ["Dad Real"]

                classes = await client.get("/users/me/classes", headers=auth(teacher))
                assert [(c["class_name"], c["students"]) for c in classes.json()["items"]] == [
                    ("5A", 1)
                ]
                grade = {
                    "student_id": str(student.id),
                    "class_id": str(school.classes[0].id),
                    "subject": "math",
                    "value": 5,
                }
                assert (
                    await client.post("/grades", json=grade, headers=auth(teacher))
                ).status_code == 201
                listed = await client.get(f"/students/{student.id}/grades", headers=auth(admin))
                [item] = listed.json()["items"]
                assert (item["teacher_name"], item["class_name"]) == ("Teacher Real", "5A")
                news = {"school_id": str(school.id), "title": "Hello", "body": "Real"}
                assert (
                    await client.post("/announcements", json=news, headers=auth(admin))
                ).status_code == 202
                [announcement] = (await client.get("/announcements", headers=auth(admin))).json()[
                    "items"
                ]
                assert announcement["author_name"] == "Admin Real"
                assert announcement["stats"]["recipients"] >= 2
    finally:
        await app.state.mongo_client.drop_database(database)
