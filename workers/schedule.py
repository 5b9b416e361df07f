"""The beat schedule: periodic jobs, by name."""

from __future__ import annotations

from typing import Any

from app.announcements.service import PUBLISH_DUE_JOB
from app.delivery.service import SWEEP_JOB
from app.notifications.digests import SCAN_JOB

EVERY_MINUTE = 60.0

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "publish scheduled announcements": {"task": PUBLISH_DUE_JOB, "schedule": EVERY_MINUTE},
    "send due digests": {"task": SCAN_JOB, "schedule": EVERY_MINUTE},
    "sweep the email outbox": {"task": SWEEP_JOB, "schedule": EVERY_MINUTE},
}
