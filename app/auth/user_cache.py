"""The calling user, remembered for a few seconds so that reads do not reload it.

A GET answers from an entry younger than USER_CACHE_SECONDS; every other method loads the
user afresh, so a change is always made from the stored state. The auth domain forgets
an entry the moment it ends a session or changes a user (logout, password change or
reset, deletion, role, schools, profile), so in the process that made the change it
takes effect at once. Production runs several API processes and each keeps its own
entries: a change made through one reaches the others' reads within USER_CACHE_SECONDS.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from beanie import PydanticObjectId

from app.auth.models import User

# Short: this is also how long another API process may still serve a read to a user
# deleted, logged out or demoted through this one.
USER_CACHE_SECONDS = 10.0
# Enough for every active user of a district; the least recently used go first.
MAX_ENTRIES = 20_000


@dataclass(frozen=True)
class _Entry:
    user: User
    loaded_at: float


# Keyed by (user id, session id of the token): a token names its session, and a
# logged-out session must not be answered from another's entry.
_entries: OrderedDict[tuple[PydanticObjectId, str | None], _Entry] = OrderedDict()


def recall(user_id: PydanticObjectId, session_id: str | None) -> User | None:
    """A copy of the remembered user, if the entry is young enough."""
    key = (user_id, session_id)
    entry = _entries.get(key)
    if entry is None:
        return None
    if time.monotonic() - entry.loaded_at > USER_CACHE_SECONDS:
        _entries.pop(key, None)
        return None
    _entries.move_to_end(key)
    # A copy: a request that changes its user object must not change the next one's.
    return entry.user.model_copy(deep=True)


def remember(user: User, session_id: str | None) -> None:
    assert user.id is not None
    _entries[(user.id, session_id)] = _Entry(user.model_copy(deep=True), time.monotonic())
    _entries.move_to_end((user.id, session_id))
    while len(_entries) > MAX_ENTRIES:
        _entries.popitem(last=False)


def forget_user(user_id: PydanticObjectId) -> None:
    """Drop every entry of a user whose stored document or sessions just changed."""
    for key in [key for key in _entries if key[0] == user_id]:
        _entries.pop(key, None)


def forget_session(session_id: PydanticObjectId) -> None:
    """Drop the entry of a session that just ended."""
    for key in [key for key in _entries if key[1] == str(session_id)]:
        _entries.pop(key, None)


def forget_all() -> None:
    """Start with no one remembered (for benchmarks that measure a first request)."""
    _entries.clear()
