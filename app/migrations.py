"""Changes to stored data that a new version needs, run at start before requests are served.

Each is idempotent and safe to interrupt, so every start may run them all; each domain's
migration writes only that domain's collections (through the owner's service otherwise).
"""

from __future__ import annotations

import logging

from app.grades import service as grades_service
from app.notifications import settings as notification_settings

log = logging.getLogger(__name__)


async def migrate() -> None:
    moved = await notification_settings.adopt_embedded_preferences()
    if moved:
        log.info("moved the notification preferences of %d users out of their records", moved)
    await grades_service.backfill_subject_keys()
