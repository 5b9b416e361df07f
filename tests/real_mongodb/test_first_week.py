"""A school's first week: a class imported from a spreadsheet, a parent joining from the
code email."""

from __future__ import annotations

from pathlib import Path

from beanie import PydanticObjectId

from app.auth.models import User
from app.schools.models import GuardianCode, School
from tests.auth.conftest import mailed_token
from tests.real_mongodb.opening import REAL_MONGODB_ONLY, real_app, teacher_and_student

pytestmark = REAL_MONGODB_ONLY


async def test_a_class_imported_from_a_spreadsheet_on_real_mongodb(tmp_path: Path) -> None:
    sheet = (
        b"role,full_name,email,class,subjects,parent_emails,locale\r\n"
        b"teacher,Irina Petrova,irina@real.example.org,5A,math;geometry,,ru\r\n"
        b"student,Masha Ivanova,,5A,,mum@real.example.org;dad@real.example.org,ru\r\n"
        b"student,Petya Smirnov,petya@real.example.org,5A,,olga@real.example.org,en\r\n"
    )
    async with real_app(tmp_path, "real.example.org") as real:
        client, headers = real.client, real.auth(real.admin)
        url = f"/schools/{real.school['id']}/import"
        files = {"file": ("5A.csv", sheet)}
        dry = await client.post(url, params={"dry_run": "true"}, files=files, headers=headers)
        assert dry.status_code == 200, dry.text
        assert await User.find({"role": "student"}).count() == 0
        first = await client.post(url, files=files, headers=headers)
        assert first.status_code == 200, first.text
        assert first.json()["created"] == dry.json()["created"]
        again = await client.post(url, files=files, headers=headers)
        assert again.json()["unchanged"] == 3
        stored = await School.get(PydanticObjectId(real.school["id"]))
        assert stored is not None
        [class_5a] = stored.classes
        assert len(class_5a.student_ids) == 2 and len(class_5a.teachers) == 1
        assert class_5a.teachers[0].subjects == ["math", "geometry"]
        assert await GuardianCode.count() == 3


async def test_a_parent_joins_from_the_code_email_and_lists_are_named_on_real_mongodb(
    tmp_path: Path,
) -> None:
    async with real_app(tmp_path, "join.example.org") as real:
        client, site, auth, admin = real.client, real.site, real.auth, real.admin
        teacher, student = await teacher_and_student(real)
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
        token = mailed_token(real.settings, to="dad@join.example.org", path="verify-email")
        assert (await site.post("/verify-email", data={"token": token})).status_code == 200
        guardians = await client.get(f"/students/{student.id}/guardians", headers=auth(teacher))
        assert [g["full_name"] for g in guardians.json()["items"]] == ["Dad Real"]

        classes = await client.get("/users/me/classes", headers=auth(teacher))
        assert [(c["class_name"], c["students"]) for c in classes.json()["items"]] == [("5A", 1)]
        grade = {
            "student_id": str(student.id),
            "class_id": real.cls["id"],
            "subject": "math",
            "value": 5,
        }
        assert (await client.post("/grades", json=grade, headers=auth(teacher))).status_code == 201
        listed = await client.get(f"/students/{student.id}/grades", headers=auth(admin))
        [item] = listed.json()["items"]
        assert (item["teacher_name"], item["class_name"]) == ("Teacher", "5A")
        news = {"school_id": real.school["id"], "title": "Hello", "body": "Real"}
        assert (
            await client.post("/announcements", json=news, headers=auth(admin))
        ).status_code == 202
        [announcement] = (await client.get("/announcements", headers=auth(admin))).json()["items"]
        assert announcement["author_name"] == "Admin"
        assert announcement["stats"]["recipients"] >= 2
