"""The outbox in figures for /metrics: how many emails wait in each status, and how long the
oldest has waited since it fell due."""

from __future__ import annotations

from app.core.db import aggregate, collection, update_each
from app.core.metrics import Gauges
from app.core.security import as_utc, utcnow
from app.delivery.models import Email, EmailStatus

# Not yet sent, and still to be.
WAITING = (EmailStatus.pending, EmailStatus.sending, EmailStatus.failed)


async def outbox_gauges() -> Gauges:
    """How deep the outbox is and how long its oldest due email has waited (for /metrics):
    queries on the status indexes, never a scan of the sent ones. A failed email waits for
    its retry, so it counts as not yet sent."""
    now = utcnow()
    documents = collection(Email)
    counted = await aggregate(
        Email,
        [
            {"$match": {"status": {"$in": [status.value for status in WAITING]}}},
            {"$group": {"_id": "$status", "count": {"$sum": 1}}},
        ],
    )
    by_status = {row["_id"]: row["count"] for row in counted}
    depth = [
        ({"status": status.value}, float(by_status.get(status.value, 0))) for status in WAITING
    ]
    # Being sent or waiting for a retry is waiting too: while the mail server is stuck,
    # every email is one of those, and the age must keep growing.
    oldest = await documents.find_one(
        {"status": {"$in": [status.value for status in WAITING]}, "due_at": {"$lte": now}},
        sort=[("due_at", 1)],
        projection={"due_at": 1},
    )
    age = (now - as_utc(oldest["due_at"])).total_seconds() if oldest else 0.0
    return {
        "schoolbell_outbox_emails": ("Emails in the outbox not yet sent, by status.", depth),
        "schoolbell_outbox_oldest_due_age_seconds": (
            "How long the oldest email not yet sent has waited since it fell due, through "
            "sending attempts and retries (0 when none is); emails held for quiet hours "
            "count from when they fall due.",
            [({}, max(0.0, age))],
        ),
    }


async def backfill_due_at() -> None:
    """Emails written before `due_at` existed and still waiting: due since their next try
    (their first due time was not kept), so the oldest-due age sees them."""
    rows = (
        await collection(Email)
        .find(
            {"status": {"$in": [s.value for s in WAITING]}, "due_at": {"$exists": False}},
            {"next_attempt_at": 1},
        )
        .to_list(None)
    )
    await update_each(
        Email,
        [({"_id": row["_id"]}, {"$set": {"due_at": row["next_attempt_at"]}}) for row in rows],
    )
