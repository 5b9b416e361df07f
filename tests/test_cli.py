"""The `schoolbell` command as an operator uses it: real processes, real signals, real ports."""

from __future__ import annotations

import re
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import cli
from app.core.config import Settings
from app.core.embedded import read_embedded
from app.demo import DEMO_ADMIN_EMAIL, DEMO_PASSWORD
from tests.dev_server import PASSWORD, DevServer, clean_env, command, settings_env_names

STARTUP_SECONDS = 60


def mailed_link(data_dir: Path, to: str, path: str) -> str:
    """The first link to `path` in mail the dev outbox holds for `to`, waiting for the worker."""
    from email import message_from_bytes, policy

    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        for eml in sorted((data_dir / "outbox").glob("*.eml")):
            message = message_from_bytes(eml.read_bytes(), policy=policy.default)
            body = message.get_body(preferencelist=("plain",))
            if message["To"] == to and body is not None:
                found = re.search(rf"http://\S+{re.escape(path)}\?token=\S+", body.get_content())
                if found:
                    return found.group(0)
        time.sleep(0.1)
    raise AssertionError(f"no mail with a {path} link reached {to}")


def test_dev_links_use_public_base_url_or_where_dev_listens() -> None:
    unset = Settings(_env_file=None)
    assert cli.dev_base_url(unset, "127.0.0.1", 8123) == "http://127.0.0.1:8123"
    assert cli.dev_base_url(unset, "0.0.0.0", 9000) == "http://127.0.0.1:9000"
    assert cli.dev_base_url(unset, "::1", 9000) == "http://[::1]:9000"
    chosen = Settings(_env_file=None, public_base_url="https://school.example.org")
    assert cli.dev_base_url(chosen, "127.0.0.1", 8123) == "https://school.example.org"


def run_cli(
    workdir: Path, data_dir: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command(), *args],
        cwd=workdir,
        env=clean_env(data_dir, **env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def snapshot_users(data_dir: Path) -> list[dict[str, Any]]:
    return list(read_embedded(data_dir)["users"])


def printed_account(output: str, role: str) -> str:
    match = re.search(rf"^{role}\s+(\S+@\S+)\s+{re.escape(DEMO_PASSWORD)}\s", output, re.M)
    assert match, f"no {role} in the printed credentials:\n{output}"
    return match.group(1)


def test_dev_keeps_data_tokens_and_demo_across_a_clean_restart(
    workdir: Path, tmp_path: Path, servers: list[DevServer]
) -> None:
    data_dir = tmp_path / "data"
    first = DevServer(workdir, data_dir, "--demo")
    servers.append(first)
    output = first.output()
    assert "Demo school loaded" in output
    parent_email = printed_account(output, "parent")
    # The printed table is what a newcomer types into Swagger: it must actually work.
    for role in ("admin", "teacher", "student", "parent"):
        first.token(printed_account(output, role), DEMO_PASSWORD)
    # The demo is coherent: a printed parent sees a child with a term of grades.
    parent = {"Authorization": f"Bearer {first.token(parent_email, DEMO_PASSWORD)}"}
    children = httpx.get(f"{first.base}/api/v1/users/me/children", headers=parent, timeout=10)
    assert children.status_code == 200, children.text
    child_id = children.json()["items"][0]["id"]
    summary = httpx.get(
        f"{first.base}/api/v1/students/{child_id}/grades/summary", headers=parent, timeout=10
    )
    assert summary.status_code == 200, summary.text
    assert sum(subject["count"] for subject in summary.json()["subjects"]) >= 4
    admin_token = first.token(DEMO_ADMIN_EMAIL, DEMO_PASSWORD)
    first.register("newcomer@example.org")
    # The mailed link points where this dev listens (not at a default port) and opens a page.
    link = mailed_link(data_dir, "newcomer@example.org", "/verify-email")
    assert link.startswith(f"{first.base}/verify-email?token=")
    page = httpx.get(link, timeout=10)
    assert page.status_code == 200 and "Confirm my email" in page.text
    assert first.stop(signal.SIGINT) == 0

    secret_file = data_dir / "jwt_secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_text()

    second = DevServer(workdir, data_dir, "--demo")
    servers.append(second)
    assert "already loaded" in second.output()
    # A token from the first run still works: the generated secret was reused, not replaced.
    assert second.me(admin_token).status_code == 200
    second.token("newcomer@example.org", PASSWORD)
    second.token(parent_email, DEMO_PASSWORD)
    assert second.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert secret_file.read_text() == secret

    emails = [user["email"] for user in snapshot_users(data_dir)]
    assert emails.count(DEMO_ADMIN_EMAIL) == 1
    assert emails.count(parent_email) == 1


def test_dev_keeps_an_acknowledged_write_through_kill_9(
    workdir: Path, tmp_path: Path, servers: list[DevServer]
) -> None:
    data_dir = tmp_path / "data"
    # dev is embedded by definition: a configured MongoDB is ignored, loudly.
    first = DevServer(workdir, data_dir, MONGODB_URL="mongodb://127.0.0.1:9/")
    servers.append(first)
    assert "MONGODB_URL is ignored" in first.output()
    assert httpx.get(f"{first.base}/ready", timeout=10).status_code == 200
    first.register("crash@example.org")
    # Killed the moment the registration was answered: no snapshot interval to wait for.
    first.stop(signal.SIGKILL)

    second = DevServer(workdir, data_dir)
    servers.append(second)
    second.token("crash@example.org", PASSWORD)
    second.stop()


def test_create_admin_in_the_dev_data_dir(
    workdir: Path, tmp_path: Path, servers: list[DevServer]
) -> None:
    data_dir = tmp_path / "data"
    created = run_cli(
        workdir, data_dir, "create-admin", "--email", "Owner@Example.org", "--password", PASSWORD
    )
    assert created.returncode == 0, created.stderr
    assert "owner@example.org" in created.stdout.lower()

    server = DevServer(workdir, data_dir)
    servers.append(server)
    token = server.token("owner@example.org", PASSWORD)
    assert server.me(token).json()["role"] == "admin"

    # While dev owns the data dir, a second writer would be overwritten by dev's next save.
    busy = run_cli(
        workdir, data_dir, "create-admin", "--email", "x@example.org", "--password", PASSWORD
    )
    assert busy.returncode != 0
    assert "in use" in busy.stderr
    server.stop()

    again = run_cli(
        workdir, data_dir, "create-admin", "--email", "owner@example.org", "--password", PASSWORD
    )
    assert again.returncode == 1
    assert "owner@example.org" in again.stderr.lower() or "exist" in again.stderr.lower()


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """In-process runs of main(): no .env, no inherited configuration, and never a real server."""
    monkeypatch.chdir(tmp_path)
    for name in settings_env_names():
        monkeypatch.delenv(name, raising=False)

    def refuse(*_: object) -> None:
        raise AssertionError("the command should have refused to start")

    monkeypatch.setattr(cli, "serve", refuse)


@pytest.mark.usefixtures("no_server")
def test_api_refuses_without_mongodb_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["api"]) == 2
    assert "MONGODB_URL" in capsys.readouterr().err


@pytest.mark.usefixtures("no_server")
def test_api_refuses_a_short_jwt_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MONGODB_URL", "mongodb://127.0.0.1:9/")
    monkeypatch.setenv("JWT_SECRET", "too-short")
    assert cli.main(["api"]) == 2
    assert "JWT_SECRET" in capsys.readouterr().err


@pytest.mark.usefixtures("no_server")
def test_api_refuses_wildcard_cors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MONGODB_URL", "mongodb://127.0.0.1:9/")
    monkeypatch.setenv("JWT_SECRET", "x" * 40)
    monkeypatch.setenv("CORS_ORIGINS", "*")
    assert cli.main(["api"]) == 2
    assert "CORS_ORIGINS" in capsys.readouterr().err


@pytest.mark.usefixtures("no_server")
def test_create_admin_refuses_a_short_password(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["create-admin", "--email", "a@example.org", "--password", "short"]) == 2
    assert "8 characters" in capsys.readouterr().err


def test_api_refusal_exit_code_from_the_installed_command(workdir: Path, tmp_path: Path) -> None:
    result = run_cli(workdir, tmp_path / "data", "api")
    assert result.returncode == 2
    assert "MONGODB_URL" in result.stderr


def test_help_lists_the_commands(workdir: Path, tmp_path: Path) -> None:
    result = run_cli(workdir, tmp_path / "data", "--help")
    assert result.returncode == 0
    for name in ("dev", "api", "worker", "beat", "create-admin"):
        assert name in result.stdout


def _poll_inbox(server: DevServer, token: str, title: str) -> list[dict[str, Any]]:
    """The inbox items titled `title`, once the in-process worker has delivered them."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 20
    while True:
        response = httpx.get(f"{server.base}/api/v1/notifications", headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        found = [item for item in response.json()["items"] if item["title"] == title]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def test_dev_runs_the_celery_worker_in_process_for_announcements_and_grades(
    workdir: Path, tmp_path: Path, servers: list[DevServer]
) -> None:
    server = DevServer(workdir, tmp_path / "data", "--demo")
    servers.append(server)
    output = server.output()
    admin = {"Authorization": f"Bearer {server.token(DEMO_ADMIN_EMAIL, DEMO_PASSWORD)}"}
    posted = server.announce(admin, "Sports day", "Friday, bring trainers.")
    assert posted.status_code == 202, posted.text
    # The POST only enqueued the fan-out; the worker inside dev delivers it.
    parent_token = server.token(printed_account(output, "parent"), DEMO_PASSWORD)
    assert len(_poll_inbox(server, parent_token, "Sports day")) == 1
    student_token = server.token(printed_account(output, "student"), DEMO_PASSWORD)
    assert len(_poll_inbox(server, student_token, "Sports day")) == 1
    stats = httpx.get(
        f"{server.base}/api/v1/announcements/{posted.json()['id']}", headers=admin, timeout=10
    ).json()
    assert stats["status"] == "published"
    assert stats["stats"]["recipients"] >= 2
    server.stop()


@pytest.mark.usefixtures("no_server")
@pytest.mark.parametrize("command_name", ["worker", "beat"])
def test_worker_and_beat_refuse_without_redis(
    command_name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MONGODB_URL", "mongodb://127.0.0.1:9/")
    monkeypatch.setenv("JWT_SECRET", "x" * 40)
    assert cli.main([command_name]) == 2
    assert "REDIS_URL" in capsys.readouterr().err
