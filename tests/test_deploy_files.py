"""Deployment files: the compose stack, the image recipe and the documented configuration."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
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


SECRET = "compose-test-secret-that-is-long-enough"


def docker_compose(workdir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (Debian package docker-compose)")
    for name in ("docker-compose.yaml", "Dockerfile"):
        shutil.copy(ROOT / name, workdir / name)
    # Only what the test gives: the developer's own settings must not leak in.
    names = settings_names() | {"API_PORT", "API_BIND"}
    clean = {k: v for k, v in os.environ.items() if k not in names}
    return subprocess.run(
        [binary, "-f", "docker-compose.yaml", *args],
        cwd=workdir,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def settings_names() -> set[str]:
    return {(field.alias or name).upper() for name, field in Settings.model_fields.items()}


def test_compose_config_passes_without_a_env_file_given_the_secret(tmp_path: Path) -> None:
    result = docker_compose(tmp_path, "config", JWT_SECRET=SECRET)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / ".env").exists()
    resolved = yaml.safe_load(result.stdout)["services"]
    api = resolved["api"]["environment"]
    # Safe defaults: the stack's own services, Mailpit on the port .env.example names.
    assert api["MONGODB_URL"] == "mongodb://mongo:27017/?replicaSet=rs0"
    assert api["SMTP_HOST"] == "mailpit" and str(api["SMTP_PORT"]) == "25"
    assert api["JWT_SECRET"] == SECRET
    # Every published port listens on the loopback address only.
    published = [str(port) for service in resolved.values() for port in service.get("ports", [])]
    assert published and all(port.startswith("127.0.0.1:") for port in published), published


def test_compose_refuses_clearly_without_the_jwt_secret(tmp_path: Path) -> None:
    result = docker_compose(tmp_path, "config", "-q")
    assert result.returncode != 0
    assert "set JWT_SECRET (at least 32 characters)" in result.stderr


def test_compose_with_env_example_copied_to_env(tmp_path: Path) -> None:
    # The documented start: `cp .env.example .env`, then JWT_SECRET filled in.
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    (tmp_path / ".env").write_text(text.replace("\nJWT_SECRET=\n", f"\nJWT_SECRET={SECRET}\n"))
    result = docker_compose(tmp_path, "config")
    assert result.returncode == 0, result.stderr
    api = yaml.safe_load(result.stdout)["services"]["api"]["environment"]
    assert api["JWT_SECRET"] == SECRET and str(api["SMTP_PORT"]) == "25"


def test_the_operator_may_open_a_port_on_purpose(tmp_path: Path) -> None:
    result = docker_compose(
        tmp_path, "config", JWT_SECRET=SECRET, API_BIND="0.0.0.0", API_PORT="9000"
    )
    assert result.returncode == 0, result.stderr
    api = yaml.safe_load(result.stdout)["services"]["api"]
    assert [str(port) for port in api["ports"]] == ["0.0.0.0:9000:9000/tcp"]
    # The API listens on that port inside the container, and the health check follows it.
    assert str(api["environment"]["PORT"]) == "9000"


def compose_defaults() -> dict[str, str]:
    """Setting name -> the default the compose file gives it (${NAME:-default})."""
    text = (ROOT / "docker-compose.yaml").read_text(encoding="utf-8")
    return dict(re.findall(r"^  ([A-Z][A-Z0-9_]*): \$\{\1:-([^}]*)\}$", text, re.M))


def test_compose_passes_every_setting_to_every_schoolbell_service() -> None:
    services = compose()["services"]
    expected = settings_names() - {"SCHOOLBELL_DATA_DIR"}  # the image sets it
    for name in ("api", "worker", "beat"):
        assert set(services[name]["environment"]) >= expected, name
    assert set(compose_defaults()) | {"JWT_SECRET"} == expected


def as_written(value: object) -> str:
    """A setting's value as an environment variable would spell it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def test_compose_defaults_agree_with_env_example_and_the_app() -> None:
    set_in_example: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            set_in_example[match.group(1)] = match.group(2)
    # The stack's own services, and the worker's metrics port, differ from a bare install.
    stack_specific = {"MONGODB_URL", "REDIS_URL", "SMTP_HOST", "WORKER_METRICS_PORT"}
    app_defaults = Settings(_env_file=None)
    for name, value in compose_defaults().items():
        if name in stack_specific:
            continue
        assert value == as_written(getattr(app_defaults, name.lower())), name
        if name in set_in_example:
            assert set_in_example[name] == value, f"{name}: .env.example and compose differ"


def test_images_are_pinned_to_a_version() -> None:
    for name, service in compose()["services"].items():
        image = service.get("image", "")
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest" and re.search(r"\d", tag), (name, image)
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for base in re.findall(r"^FROM\s+(\S+)", dockerfile, re.M):
        assert re.search(r":\d+\.\d+\.\d+", base), base


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
    assert "schoolbell api" in instruction(runtime, "CMD")[-1]


def instruction(dockerfile: str, name: str) -> list[str]:
    """The exec-form arguments of the last `name` instruction (line continuations joined)."""
    joined = dockerfile.replace("\\\n", " ")
    found = re.findall(rf"^{name}\s+(?:--\S+\s+)*(?:CMD\s+)?(\[.*\])\s*$", joined, re.M)
    assert found, name
    return list(json.loads(found[-1]))


def test_the_health_check_asks_the_port_the_api_listens_on(tmp_path: Path) -> None:
    runtime = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    check = instruction(runtime, "HEALTHCHECK")
    assert check[0] == "python"

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        env = {**os.environ, "PORT": str(port)}
        assert subprocess.run([sys.executable, *check[1:]], env=env, timeout=30).returncode == 0
    finally:
        server.shutdown()
    closed = {**os.environ, "PORT": str(port)}
    failed = subprocess.run(
        [sys.executable, *check[1:]], env=closed, capture_output=True, timeout=30
    )
    assert failed.returncode != 0

    # The API is started on the same PORT: a bad one shows in argparse's refusal.
    command = instruction(runtime, "CMD")
    assert command[:2] == ["sh", "-c"]
    result = subprocess.run(
        [*command[:2], command[2].replace("exec schoolbell", f"exec {sys.executable} -m app.cli")],
        env={**os.environ, "PORT": "not-a-port"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "invalid int value: 'not-a-port'" in result.stderr


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
    assert any(str(port).endswith(":8025") for port in mailpit["ports"])
    # Mailpit takes mail on 25, the port the app and .env.example default to.
    assert mailpit["environment"]["MP_SMTP_BIND_ADDR"] == "0.0.0.0:25"
    for name in ("api", "worker"):
        environment = services[name]["environment"]
        assert environment["SMTP_HOST"] == "${SMTP_HOST:-mailpit}"
        assert environment["SMTP_PORT"] == "${SMTP_PORT:-25}"


def test_flower_runs_on_request_under_a_profile() -> None:
    flower = compose()["services"]["flower"]
    assert flower["profiles"] == ["monitoring"]
    assert flower["environment"]["CELERY_BROKER_URL"] == "${REDIS_URL:-redis://redis:6379/0}"
