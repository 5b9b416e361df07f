"""Without SMTP_HOST the same outbox writes `.eml` files, with the same headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from fastapi import FastAPI
from mongomock_motor import AsyncMongoMockClient

from app.announcements.topic import AnnouncementPayload
from app.auth.models import Role
from app.core.config import Settings
from app.delivery import service as delivery
from app.delivery.models import EmailStatus
from app.main import create_app
from app.notifications.fanout import deliver
from app.notifications.models import Notice
from tests.conftest import UserFactory, make_settings
from tests.delivery.helpers import outbox_of, text_of, token_of, unsubscribe_link


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings, mongo_client=AsyncMongoMockClient(tz_aware=True))
    async with application.router.lifespan_context(application):
        yield application


def eml_files(settings: Settings) -> list[EmailMessage]:
    parser = BytesParser(policy=policy.default)
    folder = settings.data_dir / "outbox"
    return [parser.parsebytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]


async def test_an_email_becomes_one_eml_file_with_a_plain_unsubscribe_header(
    app: FastAPI, settings: Settings, make_user: UserFactory
) -> None:
    user = await make_user(Role.teacher)
    assert user.id
    event = Notice(
        key="notice",
        topic="announcements",
        title="Notice",
        body="Read me",
        payload=AnnouncementPayload(school_name="School 1", author_name="The Head"),
    )

    await deliver(event, [user.id])
    await delivery.sweep()

    (message,) = eml_files(settings)
    assert message["To"] == user.email
    assert message["Subject"] == "School 1: Notice"
    link = unsubscribe_link(message)
    assert link in text_of(message)
    raw = next((settings.data_dir / "outbox").glob("*.eml")).read_bytes().decode("ascii")
    assert f"List-Unsubscribe: <{link}>\n" in raw
    assert token_of(link)
    (email,) = await outbox_of(user)
    assert email.status == EmailStatus.sent
