"""What every real-MongoDB test opens with: the server named by MONGODB_URL (the tests skip
without one), a fresh database on it with the app, an admin, a school and its 5A."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth.models import Role, User
from app.core.config import Settings
from app.core.security import create_access_token
from app.main import create_app
from app.schools.guardians import link_guardian
from tests.conftest import default_password_hash, make_settings

MONGODB_URL = os.environ.get("MONGODB_URL")

REAL_MONGODB_ONLY = pytest.mark.skipif(
    not MONGODB_URL, reason="MONGODB_URL is not set: no real MongoDB to run against"
)


@dataclass
class RealApp:
    """The app on a fresh database of the real server, with an admin who runs one school
    with class 5A."""

    client: httpx.AsyncClient
    site: httpx.AsyncClient
    settings: Settings
    admin: User
    school: dict[str, Any]
    cls: dict[str, Any]

    def auth(self, user: User) -> dict[str, str]:
        token, _ = create_access_token(
            user_id=str(user.id), secret=self.settings.secret, minutes=15
        )
        return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def real_app(tmp_path: Path, domain: str, *, timezone: str = "UTC") -> AsyncIterator[RealApp]:
    database = f"schoolbell_test_{uuid.uuid4().hex[:12]}"
    settings = make_settings(tmp_path / "data", mongodb_url=MONGODB_URL, mongodb_db=database)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            admin = User(
                email=f"admin@{domain}",
                full_name="Admin",
                role=Role.admin,
                password_hash=default_password_hash(),
            )
            await admin.insert()
            transport = httpx.ASGITransport(app=app)
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as client,
                httpx.AsyncClient(transport=transport, base_url="http://test") as site,
            ):
                real = RealApp(client, site, settings, admin, {}, {})
                real.school = (
                    await client.post(
                        "/schools",
                        json={"name": "Real", "timezone": timezone},
                        headers=real.auth(admin),
                    )
                ).json()
                reloaded = await User.get(admin.id)  # now administers the school
                assert reloaded is not None
                real.admin = reloaded
                real.cls = (
                    await client.post(
                        f"/schools/{real.school['id']}/classes",
                        json={"name": "5A"},
                        headers=real.auth(reloaded),
                    )
                ).json()
                yield real
    finally:
        await app.state.mongo_client.drop_database(database)


def bearer(settings: Settings, user: User) -> dict[str, str]:
    token, _ = create_access_token(user_id=str(user.id), secret=settings.secret, minutes=15)
    return {"Authorization": f"Bearer {token}"}


async def member(real: RealApp, role: str, name: str) -> User:
    """A teacher or student of the real school, made through the API: `name` titled is
    their full name, dotted their email's local part."""
    response = await real.client.post(
        "/users",
        json={
            "email": f"{name.replace(' ', '.')}@real.example.org",
            "password": "long-enough-password",
            "full_name": name.title(),
            "role": role,
            "school_id": real.school["id"],
        },
        headers=real.auth(real.admin),
    )
    assert response.status_code == 201, response.text
    created = await User.get(response.json()["id"])
    assert created is not None
    return created


async def seat(real: RealApp, user: User) -> None:
    """`user` put in 5A: a teacher to teach maths, a student on the roster."""
    base = f"/schools/{real.school['id']}/classes/{real.cls['id']}"
    if user.role == Role.teacher:
        seated = await real.client.put(
            f"{base}/teachers/{user.id}", json={"subjects": ["math"]}, headers=real.auth(real.admin)
        )
    else:
        seated = await real.client.put(f"{base}/students/{user.id}", headers=real.auth(real.admin))
    assert seated.status_code == 204, seated.text


async def teacher_and_student(real: RealApp) -> tuple[User, User]:
    """A maths teacher and a student of the real school's 5A, seated twice (idempotent)."""
    teacher, student = (
        await member(real, "teacher", "teacher"),
        await member(real, "student", "student"),
    )
    for _ in range(2):  # idempotent
        await seat(real, teacher)
        await seat(real, student)
    return teacher, student


async def parent_of(real: RealApp, student: User) -> User:
    """A parent (of no school of their own) linked to `student`."""
    assert student.id is not None
    parent = User(
        email="parent@real.example.org",
        full_name="Parent",
        role=Role.parent,
        password_hash=default_password_hash(),
        email_verified=True,
    )
    await parent.insert()
    assert parent.id is not None
    await link_guardian(parent_id=parent.id, student_id=student.id)
    return parent
