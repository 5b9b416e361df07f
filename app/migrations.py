"""Changes to stored data a new version needs, run when a process starts (the API before it
serves requests, a worker before its first task).

Each runs once per database (app/core/migrations.py keeps the record), is idempotent and
safe to interrupt; each domain's migration writes only that domain's collections (another
domain's through the owner's service).
"""

from __future__ import annotations

import logging

from app.auth import service as auth_service
from app.core.migrations import run_once
from app.delivery import gauges as delivery_gauges
from app.delivery import service as delivery_service
from app.grades import service as grades_service
from app.homework import topic as homework_topic
from app.notifications import service as notifications_service
from app.notifications import settings as notification_settings

log = logging.getLogger(__name__)


async def _preferences_out_of_users() -> bool:
    adopted = await notification_settings.adopt_embedded_preferences()
    if adopted.moved:
        log.info(
            "moved the notification preferences of %d users out of their records", adopted.moved
        )
    return adopted.refused == 0


async def _grade_subject_keys() -> bool:
    await grades_service.backfill_subject_keys()
    return True


async def _email_source_field() -> bool:
    # Announcement emails named their announcement in a field of their own before delivery
    # kept one generic reference for every producer.
    await delivery_service.adopt_source_field("announcement_id")
    return True


async def _folded_emails() -> bool:
    rewritten, look_alikes = await auth_service.normalize_stored_emails()
    if rewritten or look_alikes:
        log.info(
            "emails: %d rewritten in their folded form, %d look-alikes left as they were",
            rewritten,
            look_alikes,
        )
    return True


async def _email_due_at() -> bool:
    await delivery_gauges.backfill_due_at()
    return True


async def _guardians_follow_homework() -> bool:
    # Homework reaches the parents following the child for it; those who linked before the
    # topic existed follow it from now, as those who link now do (a daily digest by default).
    changed = await notifications_service.guardians_follow_new_topic(homework_topic.NAME)
    if changed:
        log.info("homework: %d parents' subscriptions follow it", changed)
    return True


async def migrate() -> None:
    await run_once("notification-settings-out-of-users", _preferences_out_of_users)
    await run_once("grade-subject-keys", _grade_subject_keys)
    await run_once("emails-nfkc-casefold", _folded_emails)
    await run_once("email-due-at", _email_due_at)
    await run_once("email-source-field", _email_source_field)
    await run_once("guardians-follow-homework", _guardians_follow_homework)
