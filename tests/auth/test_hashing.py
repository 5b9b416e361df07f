"""Password hashing: OWASP-grade argon2id that never takes every core."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from app.core import security


def test_new_hashes_are_argon2id_with_one_lane_and_owasp_memory() -> None:
    encoded = security.hash_password("correct-horse-battery")

    algorithm, _version, parameters, *_ = encoded.lstrip("$").split("$")
    settings = dict(part.split("=") for part in parameters.split(","))
    assert algorithm == "argon2id"
    assert settings["p"] == "1"
    # OWASP's floor for argon2id is 19 MiB with two passes.
    assert int(settings["m"]) >= 19 * 1024 and int(settings["t"]) >= 2
    assert security.verify_password("correct-horse-battery", encoded)


async def test_concurrent_checks_never_exceed_the_hashing_slots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def slow_verify(password: str, password_hash: str) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return True

    monkeypatch.setattr(security, "verify_password", slow_verify)
    monkeypatch.setattr(security, "_hashing_slots", asyncio.Semaphore(1))

    results = await asyncio.gather(
        *(security.verify_password_async("pw", "hash") for _ in range(4))
    )

    assert results == [True] * 4
    assert most == 1


async def test_an_unknown_account_is_checked_against_a_dummy_hash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """So a login for an email nobody has costs a full argon2 check, like a known one."""
    checked: list[str] = []

    def recording_verify(password: str, encoded: str) -> bool:
        checked.append(encoded)
        return True

    monkeypatch.setattr(security, "verify_password", recording_verify)

    assert await security.verify_password_async("pw", None) is False
    assert checked == [security._DUMMY_HASH]
