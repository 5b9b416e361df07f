"""Emails stored before delivery kept one generic `source_id` still count for their
announcement after the migration renames the old field."""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId

from app.delivery.models import Email, EmailKind, EmailStatus
from app.delivery.service import adopt_source_field


async def test_old_announcement_emails_keep_their_announcement(app: Any) -> None:
    announcement_id = PydanticObjectId()
    old = {
        "idempotency_key": "notification:announcement:1:someone",
        "kind": EmailKind.immediate.value,
        "to": "parent@example.org",
        "subject": "School 1: Trip",
        "text": "Trip",
        "html": "<p>Trip</p>",
        "status": EmailStatus.sent.value,
        "announcement_id": announcement_id,
    }
    await Email.get_motor_collection().insert_one(old)

    # What the "email-source-field" migration runs at start (here after the app started).
    assert await adopt_source_field("announcement_id") == 1
    assert await adopt_source_field("announcement_id") == 0

    (email,) = await Email.find({"source_id": announcement_id}).to_list()
    assert email.idempotency_key == old["idempotency_key"]
    raw = await Email.get_motor_collection().find_one({"_id": email.id})
    assert raw is not None and "announcement_id" not in raw
