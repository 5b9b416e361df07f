"""Deployment files: the compose stack, the image recipe and the documented configuration."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.core.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yaml").read_text(encoding="utf-8")))


def env_example_names() -> dict[str, bool]:
    """Variable name -> whether it is set (True) or shown commented out (False)."""
    names: dict[str, bool] = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^(#\s*)?([A-Z][A-Z0-9_]*)=", line)
        if match:
            names.setdefault(match.group(2), match.group(1) is None)
    return names


def test_compose_file_is_valid_for_docker_compose(tmp_path: Path) -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (Debian package docker-compose)")
    # The documented start: `cp .env.example .env` next to the compose file and Dockerfile.
    for name in ("docker-compose.yaml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    result = subprocess.run(
        [binary, "-f", "docker-compose.yaml", "config", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_compose_runs_mongo_as_a_replica_set_with_redis_and_the_api() -> None:
    services = compose()["services"]
    assert {"mongo", "redis", "api"} <= set(services)

    mongo = services["mongo"]
    assert "--replSet" in mongo["command"] and "rs0" in mongo["command"]
    # Nobody has to run rs.initiate() by hand: the healthcheck does it on first start.
    assert "rs.initiate" in " ".join(mongo["healthcheck"]["test"])

    api = services["api"]
    assert api["build"] == "."
    assert "replicaSet=rs0" in api["environment"]["MONGODB_URL"]
    assert "redis:6379" in api["environment"]["REDIS_URL"]
    assert api["env_file"] == ".env"
    for dependency in ("mongo", "redis"):
        assert api["depends_on"][dependency]["condition"] == "service_healthy"


def test_image_runs_the_api_as_a_non_root_user_with_a_healthcheck() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", dockerfile, re.M)
    assert len(stages) >= 2, "builder and runtime stages"
    runtime = dockerfile.split(f"AS {stages[-1]}", 1)[1]
    users = re.findall(r"^USER\s+(\S+)", runtime, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "uv sync --locked --no-dev" in dockerfile
    assert re.search(r"^HEALTHCHECK .*\n?.*/health", runtime, re.M)
    assert re.search(r'^CMD \["schoolbell", "api"', runtime, re.M)


def test_secrets_and_local_data_stay_out_of_the_image() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".env", ".schoolbell/", ".venv/", ".git/"):
        assert entry in ignored


def test_env_example_documents_every_setting() -> None:
    documented = env_example_names()
    expected = {(field.alias or name).upper() for name, field in Settings.model_fields.items()}
    missing = expected - set(documented)
    assert not missing, f".env.example lacks {sorted(missing)}"
    unknown = set(documented) - expected
    assert not unknown, f".env.example names settings that do not exist: {sorted(unknown)}"


def test_env_example_loads_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, field in Settings.model_fields.items():
        monkeypatch.delenv((field.alias or name).upper(), raising=False)
    # `cp .env.example .env` must give a configuration the app accepts.
    settings = Settings(_env_file=ROOT / ".env.example")
    assert settings.mongodb_url is None
    assert settings.smtp_host is None


def test_compose_runs_a_worker_and_one_beat_against_the_same_services() -> None:
    services = compose()["services"]
    for name, command in (("worker", "worker"), ("beat", "beat")):
        service = services[name]
        assert command in service["command"]
        assert "replicaSet=rs0" in service["environment"]["MONGODB_URL"]
        assert "redis:6379" in service["environment"]["REDIS_URL"]
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "deploy" not in services["beat"] or services["beat"]["deploy"].get("replicas", 1) == 1


def test_compose_catches_mail_in_mailpit_until_a_real_server_is_named() -> None:
    services = compose()["services"]
    mailpit = services["mailpit"]
    assert "mailpit" in mailpit["image"]
    assert any(str(port).startswith("8025:") for port in mailpit["ports"])
    for name in ("api", "worker"):
        environment = services[name]["environment"]
        assert environment["SMTP_HOST"] == "${SMTP_HOST:-mailpit}"
        assert environment["SMTP_PORT"] == "${SMTP_PORT:-1025}"
