"""Celery's in-memory broker for a worker inside the API's process (`schoolbell dev`).

kombu's own, waiting for messages in shorter rounds: Celery's worker loop waits up to two
seconds per round and looks at its stop flag only between rounds (and runs one more round
after seeing it), so a stop took up to four seconds. In rounds of a fifth of a second it
takes well under one; an idle round costs a check of a dict in this process.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import memory

ROUND_SECONDS = 0.2
# What Celery is given as `broker_transport` to use this class.
TRANSPORT = f"{__name__}:Transport"


class Transport(memory.Transport):
    # kombu's stubs give its two base classes different signatures; this is the virtual one's.
    def drain_events(self, connection: Any, timeout: float | None = None) -> Any:  # type: ignore[override]
        if timeout is not None:
            timeout = min(timeout, ROUND_SECONDS)
        return super().drain_events(connection, timeout=timeout)
