"""Which emails an admin may list and send again."""

from __future__ import annotations

from typing import Any

from app.auth.models import User
from app.core.db import parse_object_id
from app.core.errors import NotFound


def email_scope(*, admin: User, school_id: str | None) -> dict[str, Any]:
    """The emails of the admin's schools, or of the one named (404 if not theirs)."""
    if school_id is None:
        return {"school_id": {"$in": list(admin.school_ids)}}
    wanted = parse_object_id(school_id, what="School")
    if wanted not in admin.school_ids:
        raise NotFound("School not found")
    return {"school_id": wanted}
