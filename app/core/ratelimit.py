"""Rate limits on slowapi's limiter: Redis storage when REDIS_URL is set, memory otherwise."""

from __future__ import annotations

import math
import time

from fastapi import Request
from limits import parse
from slowapi import Limiter
from slowapi.util import get_remote_address

from app.core.config import Settings
from app.core.errors import TooManyRequests


def build_limiter(settings: Settings) -> Limiter:
    storage = settings.redis_url or "memory://"
    return Limiter(key_func=get_remote_address, storage_uri=storage, headers_enabled=False)


def client_address(request: Request) -> str:
    return get_remote_address(request)


def enforce(request: Request, rate: str, scope: str, key: str) -> None:
    """Count one hit of `key` in `scope`; over `rate` it raises 429 with Retry-After."""
    limiter: Limiter = request.app.state.limiter
    item = parse(rate)
    strategy = limiter.limiter
    if strategy.hit(item, scope, key):
        return
    reset_at, _remaining = strategy.get_window_stats(item, scope, key)
    raise TooManyRequests(retry_after=math.ceil(reset_at - time.time()))
