"""A disk that fills up, for the tests of the embedded store: the files under one folder
share a chosen number of bytes, and a write past them writes what fits and then fails with
ENOSPC, as a full filesystem does (the slow fault test uses a real small filesystem)."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest


class FullDisk:
    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder = folder
        # None: room for everything.
        self.capacity: int | None = None
        real_write = os.write

        def write(descriptor: int, data: Any) -> int:
            if self.capacity is None or not self._under_folder(descriptor):
                return real_write(descriptor, data)
            room = self.capacity - self.used()
            if room <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_write(descriptor, bytes(memoryview(data)[:room]))

        monkeypatch.setattr(os, "write", write)

    def _under_folder(self, descriptor: int) -> bool:
        try:
            target = os.readlink(f"/proc/self/fd/{descriptor}")
        except OSError:
            return False
        return target.startswith(str(self.folder.resolve()))

    def used(self) -> int:
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())

    def fill(self, *, leave: int = 0) -> None:
        """From now on only `leave` more bytes fit: the write that reaches them fails there."""
        self.capacity = self.used() + leave

    def free(self) -> None:
        self.capacity = None
