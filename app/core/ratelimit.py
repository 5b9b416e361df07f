"""Rate limits on slowapi's limiter: Redis storage when REDIS_URL is set, memory otherwise.

While Redis is away the limits are counted in this process's memory (slowapi's in-memory
fallback), with a warning, and Redis is tried again every few seconds: a limit that is
briefly per process is better than every login answering 500.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from limits import RateLimitItem, parse
from limits.strategies import RateLimiter
from slowapi import Limiter
from slowapi.util import get_remote_address

from app.core.config import Settings
from app.core.errors import TooManyRequests

log = logging.getLogger(__name__)

REDIS_TIMEOUT_SECONDS = 1.0
# How long the in-memory limits stand in before Redis is asked again.
FALLBACK_SECONDS = 5.0


def build_limiter(settings: Settings) -> Limiter:
    storage = settings.redis_url or "memory://"
    options: dict[str, Any] = (
        {"socket_connect_timeout": REDIS_TIMEOUT_SECONDS, "socket_timeout": REDIS_TIMEOUT_SECONDS}
        if settings.redis_url
        else {}
    )
    return Limiter(
        key_func=get_remote_address,
        storage_uri=storage,
        storage_options=options,
        headers_enabled=False,
        in_memory_fallback_enabled=bool(settings.redis_url),
    )


def client_address(request: Request) -> str:
    return get_remote_address(request)


def _count(strategy: RateLimiter, item: RateLimitItem, scope: str, key: str) -> float | None:
    """One hit; None when allowed, else the time the window resets."""
    if strategy.hit(item, scope, key):
        return None
    reset_at, _remaining = strategy.get_window_stats(item, scope, key)
    return reset_at


def _peek(strategy: RateLimiter, item: RateLimitItem, scope: str, key: str) -> float | None:
    """Like _count without counting: None when one more hit would be allowed."""
    if strategy.test(item, scope, key):
        return None
    reset_at, _remaining = strategy.get_window_stats(item, scope, key)
    return reset_at


# When each limiter (by id) asks Redis again after an outage.
_recheck_at: dict[int, float] = {}


def _revive_if_due(limiter: Limiter) -> None:
    """In fallback: after a while, ask Redis again; back on it when it answers."""
    if time.monotonic() < _recheck_at.get(id(limiter), 0.0):
        return
    try:
        alive = bool(limiter._storage.check())
    except Exception:
        alive = False
    if alive:
        limiter._storage_dead = False
        log.warning("rate limits: Redis answers again; counting there")
    else:
        _recheck_at[id(limiter)] = time.monotonic() + FALLBACK_SECONDS


Counter = Callable[[RateLimiter, RateLimitItem, str, str], float | None]


def _hit(
    limiter: Limiter, item: RateLimitItem, scope: str, key: str, counter: Counter = _count
) -> float | None:
    """One hit (or a look, with `_peek`), on Redis or, while it is away, in memory
    (slowapi's fallback limiter, which `limiter.limiter` returns while `_storage_dead`).
    None when allowed, else the time the window resets."""
    if limiter._storage_dead:
        _revive_if_due(limiter)
    try:
        return counter(limiter.limiter, item, scope, key)
    except Exception as exc:
        if limiter._storage_dead or not limiter._in_memory_fallback_enabled:
            raise
        log.warning(
            "rate limits: Redis is unreachable (%s); counting in this process's memory", exc
        )
        limiter._storage_dead = True
        _recheck_at[id(limiter)] = time.monotonic() + FALLBACK_SECONDS
        return counter(limiter.limiter, item, scope, key)


async def enforce(request: Request, rate: str, scope: str, key: str) -> None:
    """Count one hit of `key` in `scope`; over `rate` it raises 429 with Retry-After.
    Counted in a thread: the Redis client blocks."""
    limiter: Limiter = request.app.state.limiter
    reset_at = await asyncio.to_thread(_hit, limiter, parse(rate), scope, key)
    if reset_at is not None:
        raise TooManyRequests(retry_after=math.ceil(reset_at - time.time()))


async def refuse_when_spent(request: Request, rate: str, scope: str, key: str) -> None:
    """429 when `key` has used up `rate` in `scope`, without counting this request: with
    `count`, for limits on failures only (a correct password is never counted)."""
    limiter: Limiter = request.app.state.limiter
    reset_at = await asyncio.to_thread(_hit, limiter, parse(rate), scope, key, _peek)
    if reset_at is not None:
        raise TooManyRequests(retry_after=math.ceil(reset_at - time.time()))


async def count(request: Request, rate: str, scope: str, key: str) -> None:
    """Count one hit of `key` in `scope` (a failure) without refusing anything now."""
    limiter: Limiter = request.app.state.limiter
    await asyncio.to_thread(_hit, limiter, parse(rate), scope, key)


Allowance = Callable[[str], Awaitable[bool]]


def allowance(request: Request, rate: str, scope: str) -> Allowance:
    """A check for work done after the answer (a background task has no request): each
    call counts one hit of its key and says whether it was within `rate`."""
    limiter: Limiter = request.app.state.limiter
    item = parse(rate)

    async def allowed(key: str) -> bool:
        return await asyncio.to_thread(_hit, limiter, item, scope, key) is None

    return allowed
