"""`schoolbell dev` as a real process on a free port, for the command-line and fault tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from app.core.config import Settings

# A demo start takes 30-60 s on a 2-core machine that runs other test suites too.
STARTUP_SECONDS = 180
PASSWORD = "correct-horse-battery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def command() -> list[str]:
    """The installed console script when there is one, so its entry point is exercised too."""
    script = Path(sys.executable).with_name("schoolbell")
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]


def settings_env_names() -> set[str]:
    return {(field.alias or name).upper() for name, field in Settings.model_fields.items()}


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    # The developer's own configuration must not leak into what these tests observe.
    env = {k: v for k, v in os.environ.items() if k.upper() not in settings_env_names()}
    # Grade emails go out at once, as in the in-process tests (tests/conftest.py), unless a
    # test sets the grace window itself.
    env.update(
        SCHOOLBELL_DATA_DIR=str(data_dir),
        PYTHONUNBUFFERED="1",
        GRADE_NOTICE_DELAY_MINUTES="0",
    )
    env.update(extra)
    return env


class DevServer:
    def __init__(self, workdir: Path, data_dir: Path, *args: str, **env: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"dev-{self.port}.log"
        self._log_handle = self.log.open("wb")
        self.process = subprocess.Popen(
            [*command(), "dev", "--port", str(self.port), *args],
            cwd=workdir,
            env=clean_env(data_dir, **env),
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"schoolbell dev exited early:\n{self.output()}")
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop(signal.SIGKILL)
        raise AssertionError(f"schoolbell dev did not become healthy:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: signal.Signals = signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._log_handle.close()
        return code

    def login(self, email: str, password: str) -> httpx.Response:
        return httpx.post(
            f"{self.base}/api/v1/auth/login",
            data={"username": email, "password": password},
            timeout=10,
        )

    def token(self, email: str, password: str) -> str:
        response = self.login(email, password)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def me(self, token: str) -> httpx.Response:
        return httpx.get(
            f"{self.base}/api/v1/users/me",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )

    def announce(self, headers: dict[str, str], title: str, body: str) -> httpx.Response:
        """POST an announcement to the first school the caller administers."""
        schools = httpx.get(f"{self.base}/api/v1/schools", headers=headers, timeout=10).json()
        return httpx.post(
            f"{self.base}/api/v1/announcements",
            json={"school_id": schools["items"][0]["id"], "title": title, "body": body},
            headers=headers,
            timeout=10,
        )

    def register(self, email: str) -> None:
        response = httpx.post(
            f"{self.base}/api/v1/auth/register",
            json={"email": email, "password": PASSWORD, "full_name": "New Parent"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
