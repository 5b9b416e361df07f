"""Start-up checks: the services a command needs answer, or the operator is told which not."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from app.core.config import Settings, redact_passwords
from app.core.db import check_mongodb, hosts_of

# Both checks run at once, each bounded, so the answer comes well within 10 seconds.
CHECK_SECONDS = 5.0


def check_redis(url: str, *, timeout_seconds: float) -> str | None:
    """None when Redis at `url` answers a ping in time, else why not."""
    import redis

    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=timeout_seconds, socket_timeout=timeout_seconds
        )
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return None


def unreachable_services(
    settings: Settings,
    *,
    mongodb: bool,
    redis: bool,
    timeout_seconds: float = CHECK_SECONDS,
) -> list[str]:
    """One line per configured service that does not answer, naming its host (not the
    password); empty when all answer."""
    checks = []
    if mongodb and settings.mongodb_url:
        checks.append(("MongoDB", "MONGODB_URL", settings.mongodb_url, check_mongodb))
    if redis and settings.redis_url:
        checks.append(("Redis", "REDIS_URL", settings.redis_url, check_redis))
    if not checks:
        return []
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        reasons = list(pool.map(lambda c: c[3](c[2], timeout_seconds=timeout_seconds), checks))
    return [
        f"cannot reach {service} at {hosts_of(url)} (from {setting}) within "
        f"{timeout_seconds:g} s: {redact_passwords(reason)}"
        for (service, setting, url, _check), reason in zip(checks, reasons, strict=True)
        if reason is not None
    ]
