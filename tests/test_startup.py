"""Start-up faults: unreachable services and a damaged dev database are reported, not hidden."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from bson import json_util

from app.core.config import load_settings
from app.core.embedded import read_embedded
from app.core.embedded_legacy import LEGACY_SNAPSHOT_FILE, move_aside_if_unreadable
from app.core.startup import CHECK_SECONDS, unreachable_services
from tests.dev_server import DevServer, clean_env, command
from tests.test_cli import run_cli

SECRET = "x" * 40
PASSWORD_IN_URL = "s3cret-do-not-print"


def closed_port() -> int:
    from tests.dev_server import free_port

    return free_port()  # bound and released at once: nothing listens there


def run_command(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command(), *args],
        cwd=tmp_path,
        env=clean_env(tmp_path / "data", **env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_checks_answer_within_ten_seconds() -> None:
    # MongoDB and Redis are checked at the same time, each for at most this long.
    assert CHECK_SECONDS < 10


def test_an_unanswering_host_is_reported_after_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URL", "mongodb://10.255.255.1:27017/")
    monkeypatch.setenv("REDIS_URL", "redis://10.255.255.1:6379/0")
    settings = load_settings(_env_file=None)
    problems = unreachable_services(settings, mongodb=True, redis=True, timeout_seconds=0.5)
    assert [p.split(" at ")[0] for p in problems] == ["cannot reach MongoDB", "cannot reach Redis"]
    assert all("10.255.255.1" in p for p in problems)


@pytest.mark.parametrize("command_name", ["api", "worker"])
def test_unreachable_mongodb_is_one_line_naming_the_host(command_name: str, tmp_path: Path) -> None:
    port = closed_port()
    result = run_command(
        tmp_path,
        command_name,
        MONGODB_URL=f"mongodb://admin:{PASSWORD_IN_URL}@127.0.0.1:{port}/",
        REDIS_URL="redis://127.0.0.1:6379/2",
        JWT_SECRET=SECRET,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"schoolbell {command_name}: cannot reach MongoDB at ")
    assert f"127.0.0.1:{port}" in lines[0]
    assert PASSWORD_IN_URL not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command_name", ["api", "worker", "beat"])
def test_unreachable_redis_is_one_line_naming_the_host(command_name: str, tmp_path: Path) -> None:
    port = closed_port()
    result = run_command(
        tmp_path,
        command_name,
        # MongoDB is unreachable too for api and worker: both are named, one line each.
        MONGODB_URL=f"mongodb://127.0.0.1:{closed_port()}/",
        REDIS_URL=f"redis://:{PASSWORD_IN_URL}@127.0.0.1:{port}/0",
        JWT_SECRET=SECRET,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    redis_lines = [line for line in lines if "cannot reach Redis" in line]
    assert len(redis_lines) == 1, result.stderr
    assert f"at 127.0.0.1:{port} (from REDIS_URL)" in redis_lines[0]
    assert len(lines) == (1 if command_name == "beat" else 2), result.stderr
    assert PASSWORD_IN_URL not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_dev_with_an_unreachable_redis_says_so(tmp_path: Path) -> None:
    port = closed_port()
    result = run_command(tmp_path, "dev", "--port", "0", REDIS_URL=f"redis://127.0.0.1:{port}/0")
    assert result.returncode == 2
    assert f"cannot reach Redis at 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "content",
    [
        b'{"users": [{"_id": {"$oid": "65a000000000000000000001"}, "email": "a@',  # truncated
        b"\x00\x00\x00\x00",  # zeroed by a crash
        b'["not", "collections"]',
        b'{"users": [{"email": "no id"}]}',
    ],
)
def test_an_unreadable_snapshot_is_moved_aside_under_a_name_that_says_so(
    tmp_path: Path, content: bytes
) -> None:
    (tmp_path / LEGACY_SNAPSHOT_FILE).write_bytes(content)
    moved = move_aside_if_unreadable(tmp_path, now=datetime(2026, 12, 1, 3, 4, 5, tzinfo=UTC))
    assert moved is not None
    path, reason = moved
    assert path == tmp_path / "database.unreadable-20261201T030405Z.json"
    assert path.read_bytes() == content
    assert not (tmp_path / LEGACY_SNAPSHOT_FILE).exists()
    assert reason


def test_a_readable_snapshot_stays_where_it_is(tmp_path: Path) -> None:
    (tmp_path / LEGACY_SNAPSHOT_FILE).write_text(json_util.dumps({"users": []}))
    assert move_aside_if_unreadable(tmp_path, now=datetime.now(UTC)) is None
    assert (tmp_path / LEGACY_SNAPSHOT_FILE).exists()


def test_dev_moves_a_truncated_database_aside_says_how_to_recover_and_runs(
    workdir: Path, tmp_path: Path, servers: list[DevServer]
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    damaged = b'{"users": [{"_id": {"$oid": "65a000000000000000000001"}, "email": "a@ex'
    (data_dir / LEGACY_SNAPSHOT_FILE).write_bytes(damaged)

    server = DevServer(workdir, data_dir)
    servers.append(server)
    assert httpx.get(f"{server.base}/ready", timeout=10).status_code == 200
    assert server.stop() == 0

    output = server.output()
    assert f"the embedded database {data_dir / LEGACY_SNAPSHOT_FILE} could not be read" in output
    assert "To recover: stop dev, repair the moved file" in output
    assert "Traceback" not in output
    moved = list(data_dir.glob("database.unreadable-*.json"))
    assert len(moved) == 1 and moved[0].read_bytes() == damaged
    # The fresh database was kept beside it (in the journal store), never over it.
    assert not (data_dir / LEGACY_SNAPSHOT_FILE).exists()
    assert isinstance(read_embedded(data_dir), dict)


def test_create_admin_refuses_a_damaged_database_and_leaves_it_alone(
    workdir: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / LEGACY_SNAPSHOT_FILE).write_bytes(b'{"users": [')
    result = run_cli(
        workdir, data_dir, "create-admin", "--email", "a@school.org", "--password", "long-enough"
    )
    assert result.returncode == 2
    assert "could not be read" in result.stderr and "Traceback" not in result.stderr
    assert (data_dir / LEGACY_SNAPSHOT_FILE).read_bytes() == b'{"users": ['


def test_dev_moves_a_damaged_journal_aside_names_it_and_runs_on_the_rest(
    workdir: Path, tmp_path: Path, servers: list[DevServer]
) -> None:
    data_dir = tmp_path / "data"
    first = DevServer(workdir, data_dir)
    servers.append(first)
    first.register("kept@example.org")
    assert first.stop() == 0
    files = sorted(p for p in data_dir.iterdir() if p.name.startswith(("database.", "journal.")))
    assert files, "dev kept nothing on disk"
    damaged = files[-1]
    damaged.write_bytes(damaged.read_bytes()[:-3])

    second = DevServer(workdir, data_dir)
    servers.append(second)
    assert httpx.get(f"{second.base}/ready", timeout=10).status_code == 200
    assert second.stop() == 0

    output = second.output()
    assert f"{damaged} cannot be read" in output and "moved aside" in output
    assert "Traceback" not in output
    assert len(list(data_dir.glob(f"{damaged.name}.corrupt-*"))) == 1
