"""One log line per request and per job, with a request id that follows the job."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.announcements.service import FANOUT_JOB
from app.auth.models import User
from app.core.logs import REQUEST_ID_HEADER, JsonFormatter
from app.demo import DEMO_ADMIN_EMAIL, DEMO_PASSWORD
from app.grades.notices import GRADE_EVENT_JOB
from tests.conftest import World
from tests.dev_server import DevServer
from tests.grades.helpers import post_grade

Login = Callable[[User], dict[str, str]]


def lines_of(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == logger]


async def test_one_line_per_request_with_route_status_duration_id_and_user(
    client: httpx.AsyncClient, world: World, login_as: Login, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await client.get("/users/me", headers=login_as(world.parent))
    assert response.status_code == 200
    request_id = response.headers[REQUEST_ID_HEADER]

    [line] = lines_of(caplog, "schoolbell.request")
    assert line.getMessage().startswith("GET /api/v1/users/me 200 ")
    assert f"request_id={request_id}" in line.getMessage()
    assert f"user_id={world.parent.id}" in line.getMessage()
    fields: dict[str, Any] = line.__dict__
    assert fields["route"] == "/api/v1/users/me" and fields["status"] == 200
    assert fields["duration_ms"] >= 0
    assert fields["request_id"] == request_id and fields["user_id"] == str(world.parent.id)


async def test_anonymous_and_failed_requests_are_logged_too(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await client.get("/users/me")
    assert response.status_code == 401
    [line] = lines_of(caplog, "schoolbell.request")
    assert line.getMessage().startswith("GET /api/v1/users/me 401 ")
    assert line.getMessage().endswith("user_id=-")


@pytest.mark.parametrize(
    ("offered", "kept"),
    [("edge-7f3a.42", True), ("has spaces in it", False), ("x" * 200, False)],
)
async def test_a_plain_request_id_from_a_proxy_is_kept_anything_else_replaced(
    client: httpx.AsyncClient, offered: str, kept: bool
) -> None:
    response = await client.get("http://test/health", headers={REQUEST_ID_HEADER: offered})
    returned = response.headers[REQUEST_ID_HEADER]
    assert (returned == offered) is kept
    assert returned


async def test_a_job_is_logged_with_the_id_of_the_request_that_enqueued_it(
    client: httpx.AsyncClient, world: World, login_as: Login, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await post_grade(client, login_as(world.teacher), world)
    assert response.status_code == 201
    request_id = response.headers[REQUEST_ID_HEADER]
    jobs = [r for r in lines_of(caplog, "schoolbell.job") if r.__dict__["job"] == GRADE_EVENT_JOB]
    assert len(jobs) == 1
    assert jobs[0].__dict__["request_id"] == request_id
    assert jobs[0].__dict__["outcome"] == "succeeded"
    assert f"job {GRADE_EVENT_JOB} succeeded in " in jobs[0].getMessage()


def test_json_lines_carry_the_fields_as_keys() -> None:
    record = logging.LogRecord(
        "schoolbell.request", logging.INFO, __file__, 1, "GET / 200", (), None
    )
    record.__dict__.update(request_id="abc", route="/", status=200, duration_ms=1.5)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "GET / 200" and entry["level"] == "INFO"
    assert entry["request_id"] == "abc" and entry["status"] == 200
    assert entry["time"].endswith("+00:00")


def test_dev_with_json_logs_follows_a_request_into_the_celery_fan_out(
    workdir: Path, tmp_path: Path, servers: list[DevServer]
) -> None:
    server = DevServer(workdir, tmp_path / "data", "--demo", LOG_FORMAT="json")
    servers.append(server)
    admin = {"Authorization": f"Bearer {server.token(DEMO_ADMIN_EMAIL, DEMO_PASSWORD)}"}
    posted = server.announce(admin, "Sports day", "Friday.")
    assert posted.status_code == 202, posted.text
    request_id = posted.headers[REQUEST_ID_HEADER]
    announcement = f"{server.base}/api/v1/announcements/{posted.json()['id']}"
    for _ in range(100):
        if httpx.get(announcement, headers=admin, timeout=10).json()["status"] == "published":
            break
        time.sleep(0.2)
    assert server.stop() == 0

    entries = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    assert entries, server.output()
    [request_line] = [
        e
        for e in entries
        if e.get("route") == "/api/v1/announcements" and e.get("method") == "POST"
    ]
    assert request_line["status"] == 202 and request_line["request_id"] == request_id
    assert request_line["user_id"]
    # The demo publishes an announcement of its own at start: its fan-out has its own id.
    fan_out = [e for e in entries if e.get("job") == FANOUT_JOB and e["request_id"] == request_id]
    assert [e["outcome"] for e in fan_out] == ["succeeded"]
    assert "Traceback" not in server.output()
