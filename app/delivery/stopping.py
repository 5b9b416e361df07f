"""The send loop's stop signal: set when the process stops, checked between messages.

A send job that sees it sends nothing more, records the outcome of every message it sent
and hands the rest of its batch back, so the process can end within seconds without an
email whose fate is unwritten (which the next start would send again).
"""

from __future__ import annotations

import threading

_stop = threading.Event()


def stop_sending() -> None:
    """Ask every send job of this process to finish after the message it is sending."""
    _stop.set()


def resume_sending() -> None:
    """Sending may go on (a process, or a test, starting its workers again)."""
    _stop.clear()


def sending_stopped() -> bool:
    return _stop.is_set()
