"""The beat schedule: every job registered with `every=`, read from the job registry."""

from __future__ import annotations

from typing import Any

from app import jobs as _registered_jobs  # noqa: F401  (fills the job registry)
from app.core.jobs import beat_schedule

BEAT_SCHEDULE: dict[str, dict[str, Any]] = beat_schedule()
