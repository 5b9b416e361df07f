"""A running `schoolbell dev` and its live /openapi.json, shared by the client-generation
tests, and the Node tools they run, installed once per session."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.dev_server import DevServer

ADMIN_EMAIL = "admin@contract.example.org"
ADMIN_PASSWORD = "contract-admin-password"

# Pinned, so that a new release changes what CI checks only when someone moves these.
NODE_PACKAGES = {
    "@stoplight/spectral-cli": "6.16.3",
    "openapi-typescript": "7.13.0",
    "openapi-fetch": "0.17.0",
    "typescript": "5.9.3",
}


@dataclass
class LiveServer:
    server: DevServer
    outbox: Path  # where dev writes every email

    @property
    def base(self) -> str:
        return self.server.base


@pytest.fixture(scope="session")
def contract_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("contract-server")
    server = DevServer(
        root,
        root / "data",
        BOOTSTRAP_ADMIN_EMAIL=ADMIN_EMAIL,
        BOOTSTRAP_ADMIN_PASSWORD=ADMIN_PASSWORD,
        # The default 15 minutes could run out on a slow machine before the flows end.
        ACCESS_TOKEN_MINUTES="120",
    )
    yield LiveServer(server, root / "data" / "outbox")
    if server.process.poll() is None:
        server.stop(signal.SIGKILL)


@pytest.fixture(scope="session")
def contract_document(
    contract_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The document as the running server serves it, saved for the generators."""
    answer = httpx.get(f"{contract_server.base}/openapi.json", timeout=30)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    path = tmp_path_factory.mktemp("contract-document") / "openapi.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def run(command: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def _installed(folder: Path) -> bool:
    for name, version in NODE_PACKAGES.items():
        manifest = folder / "node_modules" / name / "package.json"
        if not manifest.exists():
            return False
        if json.loads(manifest.read_text(encoding="utf-8")).get("version") != version:
            return False
    return True


@pytest.fixture(scope="session")
def node_tools(pytestconfig: pytest.Config) -> Path:
    """A folder with the pinned Node packages installed, kept in pytest's cache folder so
    that a second run installs nothing; skips, saying so, without Node.js and npm."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip(
            "Node.js and npm are not installed: the TypeScript and Spectral checks need them"
        )
    folder = pytestconfig.cache.mkdir("contract-node-tools")
    if not _installed(folder):
        (folder / "package.json").write_text(
            json.dumps({"private": True, "type": "module"}), encoding="utf-8"
        )
        pinned = [f"{name}@{version}" for name, version in NODE_PACKAGES.items()]
        # Scripts off: none of these needs one, and nothing fetched runs at install.
        installed = run(
            [
                npm,
                "install",
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
                "--save-exact",
                *pinned,
            ],
            folder,
        )
        assert installed.returncode == 0, installed.stdout + installed.stderr
        assert _installed(folder), installed.stdout + installed.stderr
    return folder
