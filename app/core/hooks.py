"""Hooks: a lower layer announces what happened; a higher one, which it may not import,
registers what must follow (a linked guardian follows the child, say).

Listeners register when their module is imported; app.main and the workers import every
domain, so in a running process every listener is connected before the first request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Listener = Callable[..., Awaitable[T]]
AnyListener = TypeVar("AnyListener", bound=Callable[..., Awaitable[Any]])


class Hook(Generic[T]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._listeners: list[Listener[T]] = []

    def connect(self, listener: AnyListener) -> AnyListener:
        """Register `listener` (usable as a decorator, which returns it unchanged);
        registering it twice is harmless."""
        if listener not in self._listeners:
            self._listeners.append(listener)
        return listener

    async def send(self, **arguments: Any) -> list[T]:
        """Call every listener in the order they registered; their answers, in that order."""
        return [await listener(**arguments) for listener in self._listeners]
