"""Every link in every kind of email Schoolbell sends opens something: none answers 404.

Each kind of email is caused the way a person causes it (over HTTP, or the digest scan the
beat runs), with real data; every kind of email the app ships templates for must be among
them, so a new kind without a flow here fails this test instead of going unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

import app as app_package
from app.auth.models import User
from app.core.config import Settings
from app.core.security import utcnow
from app.delivery import render
from app.notifications import digests
from app.notifications.links import preferences_token
from tests.auth.conftest import outbox, text_of
from tests.conftest import DEFAULT_PASSWORD, World
from tests.digests.helpers import choose
from tests.timetable.helpers import every_day, post_change, put_week, school_today

LoginAs = Callable[[User], dict[str, str]]
APP_FOLDER = Path(app_package.__file__).parent
SUBJECT = ".subject.txt"


def shipped_kinds() -> set[str]:
    """Every email the app has templates for, named as render() names them."""
    kinds = {p.name.removesuffix(SUBJECT) for p in (render.TEMPLATES / "en").glob(f"*{SUBJECT}")}
    for namespace, loader in render._namespaces.items():
        for folder in map(Path, loader.searchpath):
            if APP_FOLDER in folder.parents:  # test-only producers are not the app's mail
                kinds |= {
                    f"{namespace}/{p.name.removesuffix(SUBJECT)}"
                    for p in (folder / "en").glob(f"*{SUBJECT}")
                }
    return kinds


@pytest.fixture
def rendered_kinds(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """The kinds of email rendered while the test runs (each render reads its subject)."""
    seen: set[str] = set()
    environment = render._environment
    original = environment.get_template

    def get_template(name: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(name, str) and name.endswith(SUBJECT):
            parts = name.removesuffix(SUBJECT).split("/")
            seen.add("/".join(p for i, p in enumerate(parts) if i != len(parts) - 2))
        return original(name, *args, **kwargs)

    monkeypatch.setattr(environment, "get_template", get_template)
    yield seen


def links_in(message: EmailMessage) -> set[str]:
    """Every address a reader or their mail client can follow: the text part's, the HTML
    part's and the List-Unsubscribe header's."""
    found = set(re.findall(r"https?://[^\s<>\"']+", text_of(message)))
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    found |= {
        link.replace("&amp;", "&")
        for link in re.findall(r'href="([^"]+)"', str(html.get_content()))
    }
    found |= set(re.findall(r"<(https?://[^>]+)>", str(message.get("List-Unsubscribe", ""))))
    return found


async def cause_every_kind(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    settings: Settings,
    world: World,
    login_as: LoginAs,
) -> None:
    admin, teacher = login_as(world.admin), login_as(world.teacher)
    newcomer = {"email": "newcomer@example.org", "password": "newcomer-pass-1", "full_name": "N"}
    assert (await client.post("/auth/register", json=newcomer)).status_code == 201
    reset = await client.post("/auth/password-reset/request", json={"email": world.admin.email})
    assert reset.status_code == 202
    moved = await client.patch(
        "/users/me",
        json={"email": "moved@example.org", "current_password": DEFAULT_PASSWORD},
        headers=login_as(world.teacher),
    )
    assert moved.status_code == 200, moved.text
    assert world.parent.id is not None
    token = preferences_token(settings=settings, user_id=world.parent.id)
    assert (await site.post("/preferences/new-link", data={"token": token})).status_code == 202
    code = await client.post(
        f"/students/{world.student.id}/guardian-codes",
        json={"email": "family@example.org"},
        headers=admin,
    )
    assert code.status_code == 201
    subscribed = await client.post(
        "/subscriptions",
        json={"target_type": "student", "target_id": str(world.student.id)},
        headers=login_as(world.parent),
    )
    assert subscribed.status_code in (200, 201), subscribed.text
    rules = {
        "school_id": str(world.school.id),
        "title": "New rules",
        "body": "Please confirm you have read them",
        "requires_ack": True,
    }
    assert (await client.post("/announcements", json=rules, headers=admin)).status_code == 202
    assert (await put_week(client, login_as, world, every_day(world))).status_code == 200
    tomorrow = (school_today(world) + timedelta(days=1)).isoformat()
    changed = await post_change(client, login_as, world, date=tomorrow, kind="cancelled")
    assert changed.status_code == 201, changed.text
    question = {"participant_id": str(world.teacher.id), "subject": "Homework", "text": "Hello"}
    wrote = await client.post("/conversations", json=question, headers=login_as(world.parent))
    assert wrote.status_code == 201, wrote.text
    starts = utcnow() + timedelta(days=3)
    meeting = {
        "school_id": str(world.school.id),
        "title": "Parents' meeting",
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=1)).isoformat(),
        "class_ids": [str(world.class_5a.id)],
    }
    assert (await client.post("/events", json=meeting, headers=admin)).status_code == 201
    await choose(world.student, now=utcnow(), email={"homework": "immediate"})
    due = (school_today(world) + timedelta(days=1)).isoformat()
    tonight = {"class_id": str(world.class_5a.id), "subject": "math", "due": due, "text": "p. 12"}
    assert (await client.post("/homework", json=tonight, headers=teacher)).status_code == 201
    register = f"/schools/{world.school.id}/classes/{world.class_5a.id}/attendance"
    absent = {"marks": [{"student_id": str(world.student.id), "status": "absent"}]}
    marked = await client.put(
        f"{register}/{school_today(world).isoformat()}", json=absent, headers=teacher
    )
    assert marked.status_code == 200, marked.text
    now = utcnow()
    await choose(world.parent, now=now, email={"grades": "daily", "announcements": "daily"})
    grade = {
        "student_id": str(world.student.id),
        "class_id": str(world.class_5a.id),
        "subject": "math",
        "value": 5,
    }
    assert (await client.post("/grades", json=grade, headers=teacher)).status_code == 201
    news = {"school_id": str(world.school.id), "title": "Open day", "body": "Saturday at 10"}
    assert (await client.post("/announcements", json=news, headers=admin)).status_code == 202
    invited = {
        "email": "invited@example.org",
        "full_name": "Invited Teacher",
        "role": "teacher",
        "school_id": str(world.school.id),
    }
    assert (await client.post("/users", json=invited, headers=admin)).status_code == 201
    assert await digests.scan(now=now + timedelta(days=1, hours=1)) >= 1


async def test_no_link_in_any_email_answers_404(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    settings: Settings,
    world: World,
    login_as: LoginAs,
    rendered_kinds: set[str],
) -> None:
    await cause_every_kind(client, site, settings, world, login_as)

    assert shipped_kinds() - rendered_kinds == set(), "kinds of email no flow here sends"
    messages = outbox(settings)
    links = {link for message in messages for link in links_in(message)}
    paths = {urlsplit(link).path for link in links}
    # The mail of every kind reached the outbox, and its links are this site's.
    assert {
        "/verify-email",
        "/reset-password",
        "/preferences",
        "/unsubscribe",
        "/join",
        "/set-password",
        "/acknowledge",
        "/events/answer",
    } <= paths
    for link in sorted(links):
        assert link.startswith(settings.public_base_url + "/"), link
        parts = urlsplit(link)
        opened = await site.get(parts.path, params=parts.query)
        assert opened.status_code != 404, f"{link} answers 404"
        assert opened.status_code < 500, f"{link} answers {opened.status_code}"
        assert opened.headers["content-type"].startswith("text/html"), link
