"""GET /metrics: what moved after a grade and its emails, outbox depth, and who may read it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from app.auth.models import User
from app.core.config import Settings
from app.core.security import utcnow
from app.delivery.models import Email, EmailKind
from app.grades.notices import GRADE_EVENT_JOB
from app.main import create_app
from app.notifications.service import subscribe_guardian
from tests.conftest import World, make_settings
from tests.delivery.conftest import CountingSmtpServer
from tests.grades.helpers import posted

Login = Callable[[User], dict[str, str]]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
METRICS = "http://test/metrics"


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get(METRICS)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of `name` that has these labels (and any others)."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


async def test_a_grade_and_its_emails_move_the_counters(
    client: httpx.AsyncClient, world: World, login_as: Login, smtp_server: CountingSmtpServer
) -> None:
    assert world.parent.id is not None and world.student.id is not None
    await subscribe_guardian(parent_id=world.parent.id, student_id=world.student.id)
    before = await scrape(client)

    await posted(client, login_as(world.teacher), world, value=5)
    assert len(smtp_server.envelopes) == 2
    after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    route = {"method": "POST", "route": "/api/v1/grades"}
    assert moved("schoolbell_http_requests_total", **route, status="201") == 1
    assert moved("schoolbell_http_request_duration_seconds_count", **route) == 1
    assert moved("schoolbell_emails_total", status="queued") == 2
    assert moved("schoolbell_emails_total", status="sent") == 2
    assert moved("schoolbell_email_delay_seconds_count") == 2
    assert moved("schoolbell_jobs_total", job=GRADE_EVENT_JOB, outcome="succeeded") == 1
    assert moved("schoolbell_job_duration_seconds_count", job=GRADE_EVENT_JOB) == 1
    assert moved("schoolbell_jobs_total", job="delivery.send_emails", outcome="succeeded") >= 1


async def test_routes_are_counted_by_template_not_by_path(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    grade = await posted(client, login_as(world.teacher), world)
    before = await scrape(client)
    await client.get(f"/grades/{grade['id']}", headers=login_as(world.teacher))
    await client.get("/no/such/page")
    after = await scrape(client)
    by_template = {"method": "GET", "route": "/api/v1/grades/{grade_id}"}
    assert (
        total(after, "schoolbell_http_requests_total", **by_template)
        - total(before, "schoolbell_http_requests_total", **by_template)
        == 1
    )
    assert not any(grade["id"] in dict(labels).get("route", "") for _, labels in after)
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert (
        total(after, "schoolbell_http_requests_total", **unmatched)
        - total(before, "schoolbell_http_requests_total", **unmatched)
        == 1
    )


async def test_outbox_depth_and_the_age_of_the_oldest_due_email(
    client: httpx.AsyncClient,
) -> None:
    now = utcnow()
    for key, due in (("late", now - timedelta(minutes=10)), ("later", now + timedelta(hours=8))):
        await Email(
            idempotency_key=key,
            kind=EmailKind.account,
            to="someone@example.org",
            subject="s",
            text="t",
            html="<p>t</p>",
            next_attempt_at=due,
        ).insert()
    samples = await scrape(client)
    assert value(samples, "schoolbell_outbox_emails", status="pending") == 2
    assert value(samples, "schoolbell_outbox_emails", status="sending") == 0
    # The one held until tomorrow morning is not late; the one due ten minutes ago is.
    age = value(samples, "schoolbell_outbox_oldest_due_age_seconds")
    assert 600 <= age < 700


async def answer_from(app: FastAPI, client: tuple[str, int], **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return await http.get("/metrics", headers=headers)


@pytest.fixture
def token_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data", metrics_token="scrape-token-0123456789")


async def test_metrics_answer_loopback_and_the_token_only(token_settings: Settings) -> None:
    app = create_app(token_settings)
    async with app.router.lifespan_context(app):
        assert (await answer_from(app, ("127.0.0.1", 5000))).status_code == 200
        assert (await answer_from(app, ("::1", 5000))).status_code == 200
        remote = ("10.1.2.3", 5000)
        refused = await answer_from(app, remote)
        assert refused.status_code == 403
        assert "METRICS_TOKEN" in refused.text
        wrong = await answer_from(app, remote, Authorization="Bearer not-the-token")
        assert wrong.status_code == 403
        right = await answer_from(app, remote, Authorization="Bearer scrape-token-0123456789")
        assert right.status_code == 200
        assert "schoolbell_http_requests_total" in right.text


async def test_without_a_token_only_loopback_may_read(settings: Settings) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert (
            await answer_from(app, ("192.168.0.9", 1), Authorization="Bearer x")
        ).status_code == 403


def test_a_worker_serves_the_counters_of_all_its_processes(tmp_path: Path) -> None:
    # A real multiprocess setup: two forked children count a job each, then exit, as
    # Celery's prefork children do; the parent's endpoint adds their counts up.
    script = textwrap.dedent(
        """
        import os, sys, time
        from app.core.metrics import JOB_RUNS, serve_worker_metrics
        for _ in range(2):
            pid = os.fork()
            if pid == 0:
                JOB_RUNS.labels("digests.scan", "succeeded").inc()
                os._exit(0)
            os.waitpid(pid, 0)
        server = serve_worker_metrics(host="127.0.0.1", port=0, token=None)
        print(server.server_port, flush=True)
        time.sleep(60)
        """
    )
    folder = tmp_path / "prometheus"
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    process = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert response.status_code == 200
        samples = parse(response.text)
        assert value(samples, "schoolbell_jobs_total", job="digests.scan", outcome="succeeded") == 2
        assert httpx.get(f"http://127.0.0.1:{port}/other", timeout=10).status_code == 404
    finally:
        process.kill()
        process.wait()
