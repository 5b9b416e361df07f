"""The people of an admin's schools: creating accounts in a school and listing them.

Accounts themselves belong to auth; this layer knows which school a person belongs to (a
parent through their children) and so who an admin may reach.
"""

from __future__ import annotations

import base64
import binascii
import json

from beanie import PydanticObjectId
from bson import ObjectId

from app.auth import service as auth_service
from app.auth import tokens as auth_tokens
from app.auth.models import Locale, Role, User
from app.core.config import Settings
from app.core.errors import Unprocessable
from app.core.pagination import PageParams
from app.schools import repository


async def create_user(
    *,
    settings: Settings,
    email: str,
    password: str | None,
    full_name: str,
    role: Role,
    school_id: PydanticObjectId | None,
    locale: Locale,
    timezone: str,
) -> User:
    """Create a user of any role, in a school the caller was allowed to add people to;
    without a password, the invitation names that school."""
    school_ids = [school_id] if school_id is not None else []
    school = await repository.get(school_id) if school_id is not None else None
    return await auth_service.create_user(
        settings=settings,
        email=email,
        password=password,
        full_name=full_name,
        role=role,
        school_ids=school_ids,
        locale=locale,
        timezone=timezone,
        school_name=school.name if school is not None else None,
    )


async def invite(*, settings: Settings, user: User) -> None:
    """Mail a fresh invitation, naming the user's school, and end the links sent before."""
    school = await repository.get(user.school_ids[0]) if user.school_ids else None
    await auth_tokens.reinvite(
        settings=settings, user=user, school_name=school.name if school is not None else None
    )


# The parents of an admin's schools are listed after their members, a page of links at a
# time in parent id order: no query carries every parent's id (a district's would pass the
# 16 MB command limit near 800,000), and a page costs the same however many there are.
_PARENTS_CURSOR = "parents"


def _parents_cursor(after: PydanticObjectId | None) -> str:
    raw = json.dumps([_PARENTS_CURSOR, str(after) if after else None]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parents_after(cursor: str | None) -> tuple[bool, PydanticObjectId | None]:
    """(whether `cursor` is into the parents, the last parent listed before it)."""
    if cursor is None:
        return False, None
    try:
        phase, after = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, binascii.Error):
        return False, None  # a members cursor, or malformed: the members' paging says which
    if phase != _PARENTS_CURSOR:
        return False, None
    if after is None:
        return True, None
    if not isinstance(after, str) or not ObjectId.is_valid(after):
        raise Unprocessable("Malformed cursor")
    return True, PydanticObjectId(after)


async def _linked_parents(
    school_ids: list[PydanticObjectId],
    *,
    after: PydanticObjectId | None,
    wanted: int,
    role: Role | None,
    q: str | None,
) -> tuple[list[User], bool]:
    """Up to `wanted` listed parents linked to these schools' students after `after`, in id
    order, and whether there are more."""
    found: list[User] = []
    while True:
        ids, more_links = await repository.linked_parent_ids(
            school_ids, after=after, links=wanted + 1
        )
        found += await auth_service.listed_among(ids, outside=school_ids, role=role, q=q)
        if len(found) > wanted:
            return found[:wanted], True
        if not more_links or not ids:
            return found, False
        after = ids[-1]


async def list_users(
    *,
    school_ids: list[PydanticObjectId],
    page: PageParams,
    role: Role | None = None,
    q: str | None = None,
) -> tuple[list[User], str | None]:
    """Members of these schools, newest first, then the parents linked to their students
    (who are members of none of them), in id order."""
    if not school_ids:
        return [], None
    in_parents, after = _parents_after(page.cursor)
    members: list[User] = []
    if not in_parents:
        members, cursor = await auth_service.list_users(
            scope={"school_ids": {"$in": school_ids}}, page=page, role=role, q=q
        )
        if cursor is not None:
            return members, cursor
    if role not in (None, Role.parent):
        return members, None
    parents, more = await _linked_parents(
        school_ids, after=after, wanted=page.limit - len(members), role=role, q=q
    )
    rows = members + parents
    if not more:
        return rows, None
    return rows, _parents_cursor(parents[-1].id if parents else after)
