"""A real browser (Debian's chromium, driven by Playwright) against the app served on a free
port, with its mail going to a real SMTP server (aiosmtpd).

One server and one browser per module keep these tests quick. Every request the browser
makes to another origin is blocked and fails the test: no page may need another host.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from mongomock_motor import AsyncMongoMockClient

from app.main import create_app
from tests.conftest import SmtpServer, make_settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ADMIN_EMAIL = "admin@browser.example.org"
ADMIN_PASSWORD = "browser-admin-password"
PASSWORD = "parent-password-1"
WIDTHS = (360, 1280)
MAIL_WAIT_SECONDS = 15


@dataclass
class LiveApp:
    base: str
    smtp: SmtpServer
    screenshots: Path
    api: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.api = httpx.Client(base_url=f"{self.base}/api/v1", timeout=30)

    def mail_to(self, address: str, count: int = 1) -> list[EmailMessage]:
        """The first `count` messages to `address`, waiting for the worker to send them."""
        deadline = time.monotonic() + MAIL_WAIT_SECONDS
        while time.monotonic() < deadline:
            messages = [
                m
                for e, m in zip(self.smtp.envelopes, self.smtp.messages, strict=True)
                if address in e.rcpt_tos
            ]
            if len(messages) >= count:
                return messages
            time.sleep(0.05)
        raise AssertionError(f"{address} did not receive {count} message(s)")

    def login(self, email: str, password: str) -> dict[str, Any]:
        response = self.api.post("/auth/login", data={"username": email, "password": password})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def bearer(self, email: str, password: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.login(email, password)['access_token']}"}


def text_part(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def html_part(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    return str(body.get_content())


def link_in(text: str, path: str) -> str:
    found = re.search(rf"https?://[^\s\"<>]+{re.escape(path)}\?token=[\w.\-]+", text)
    assert found, f"no {path} link in:\n{text}"
    return found.group(0)


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    smtp = SmtpServer()
    smtp.start()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    folder = tmp_path_factory.mktemp("live")
    settings = make_settings(
        folder / "data",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        public_base_url=base,
        bootstrap_admin_email=ADMIN_EMAIL,
        bootstrap_admin_password=ADMIN_PASSWORD,
    )
    app = create_app(settings, mongo_client=AsyncMongoMockClient(tz_aware=True))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("the app did not start")
        time.sleep(0.02)
    screenshots = folder / "screenshots"
    screenshots.mkdir()
    live = LiveApp(base=base, smtp=smtp, screenshots=screenshots)
    try:
        yield live
    finally:
        live.api.close()
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()
        smtp.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"no chromium at {CHROMIUM}: install Debian's chromium "
            "(`apt-get install -y chromium`, which .ci/run does) to run the browser tests"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


class Guarded:
    """A browser context for one test that refuses, and reports, requests to other hosts."""

    def __init__(self, browser: Any, live: LiveApp, *, javascript: bool, locale: str) -> None:
        self.live = live
        self.elsewhere: list[str] = []
        self.context = browser.new_context(
            java_script_enabled=javascript,
            locale=locale,
            viewport={"width": WIDTHS[-1], "height": 900},
        )
        self.context.route("**/*", self._only_our_origin)
        self.page = self.context.new_page()

    def _only_our_origin(self, route: Any) -> None:
        url = route.request.url
        if (
            url.startswith(self.live.base + "/")
            or url == self.live.base
            or url.startswith(("data:", "about:"))
        ):
            route.continue_()
        else:
            self.elsewhere.append(url)
            route.abort()

    def shoot(self, name: str) -> None:
        """Screenshots of the page as it is, on a phone and on a desktop."""
        for width in WIDTHS:
            self.page.set_viewport_size({"width": width, "height": 900})
            self.page.screenshot(
                path=str(self.live.screenshots / f"{name}-{width}.png"), full_page=True
            )
            # Nothing may be wider than the screen: no sideways scrolling on a phone.
            overflow = self.page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{name} scrolls sideways at {width} px"
        self.page.set_viewport_size({"width": WIDTHS[-1], "height": 900})

    def close(self) -> None:
        self.context.close()
        assert self.elsewhere == [], f"requests left the app's origin: {self.elsewhere}"


@pytest.fixture
def open_browser(browser: Any, live_app: LiveApp) -> Iterator[Any]:
    """open_browser(javascript=False, locale="en") -> a guarded page for this test."""
    opened: list[Guarded] = []

    def factory(*, javascript: bool = False, locale: str = "en") -> Guarded:
        guarded = Guarded(browser, live_app, javascript=javascript, locale=locale)
        opened.append(guarded)
        return guarded

    yield factory
    for guarded in opened:
        guarded.close()
