"""The calling user, remembered for a few seconds so that reads do not reload it.

A GET answers from an entry younger than USER_CACHE_SECONDS; every other method loads the
user afresh, so a change is always made from the stored state. The auth domain forgets
an entry the moment it ends a session or changes a user (logout, password change or
reset, deletion, role, schools, profile), so in the process that made the change it
takes effect at once. Production runs several API processes, each with its own entries:
with Redis configured, every forget is also published on a Redis channel that each
process follows (`follow_forgets`), so the others drop their entries within milliseconds.
A process that loses the channel forgets everyone until it is back, and with Redis
unreachable an entry still lives at most USER_CACHE_SECONDS.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from beanie import PydanticObjectId

from app.auth.models import User

log = logging.getLogger(__name__)

# Short: without Redis to tell them, this is how long another API process may still serve
# a read to a user deleted, logged out or demoted through this one.
USER_CACHE_SECONDS = 10.0


def channel_of(redis: Any) -> str:
    """The channel of the Redis database in use: channels span databases, and apps that
    share a server but not a database are not each other's processes."""
    database = redis.connection_pool.connection_kwargs.get("db", 0)
    return f"schoolbell:{database}:user-cache:forget"


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


# How this process tells the others what to forget: set while it follows the channel.
_publish: Callable[[str], Awaitable[Any]] | None = None


def _forget_here(message: str) -> None:
    kind, _, value = message.partition(":")
    position = 0 if kind == "user" else 1
    for key in [key for key in _entries if str(key[position]) == value]:
        _entries.pop(key, None)


async def _forget(message: str) -> None:
    _forget_here(message)
    if _publish is None:
        return
    try:
        await _publish(message)
    except Exception as exc:  # Redis away: the others' entries still expire on their own
        log.warning("could not tell other processes to forget a user: %s", exc)


async def forget_user(user_id: PydanticObjectId) -> None:
    """Drop every entry of a user whose stored document or sessions just changed, here and
    in every other process."""
    await _forget(f"user:{user_id}")


async def forget_session(session_id: PydanticObjectId) -> None:
    """Drop the entry of a session that just ended, here and in every other process."""
    await _forget(f"session:{session_id}")


async def follow_forgets(redis: Any, *, ready: asyncio.Event | None = None) -> None:
    """Run for the life of the process: publish this process's forgets on the channel and
    apply everyone's. `redis` is an asyncio Redis client without a read timeout."""
    global _publish
    channel = channel_of(redis)
    while True:
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(channel)
                _publish = lambda message: redis.publish(channel, message)  # noqa: E731
                if ready is not None:
                    ready.set()
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                    if message is not None:
                        data = message["data"]
                        _forget_here(data.decode() if isinstance(data, bytes) else str(data))
        except asyncio.CancelledError:
            _publish = None
            raise
        except Exception as exc:
            # Forgets sent while we were away are lost: forget everyone rather than serve
            # a user someone else has since deleted or demoted.
            _publish = None
            _entries.clear()
            log.warning("user cache: lost the Redis channel (%s); retrying", exc)
            await asyncio.sleep(1)


def forget_all() -> None:
    """Start with no one remembered (for benchmarks that measure a first request)."""
    _entries.clear()
