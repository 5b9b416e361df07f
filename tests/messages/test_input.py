"""Bad input, strangers and paging: every route answers a clear 4xx, never a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import World
from tests.messages.conftest import Others
from tests.messages.helpers import Login, started, written

ROUTES = [
    ("GET", "/conversations/{id}/messages", None),
    ("POST", "/conversations/{id}/messages", {"text": "Hi"}),
    ("POST", "/conversations/{id}/read", None),
]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": "", "text": "Hello"}, "subject"),
        ({"subject": "Hi", "text": "   "}, "text"),
        ({"subject": "Hi\u202egnp.exe", "text": "Hello"}, "subject"),  # direction override
        ({"subject": "Hi", "text": "Hello\x1b[2J"}, "text"),  # a terminal escape
        ({"subject": "Hi\nthere", "text": "Hello"}, "subject"),  # one line
        ({"subject": "x" * 201, "text": "Hello"}, "subject"),
        ({"subject": "Hi", "text": "x" * 10_001}, "text"),
        ({"subject": "Hi"}, "text"),
        ({"subject": "Hi", "text": "Hello", "participant_id": "nope"}, "participant_id"),
        ({"subject": "Hi", "text": "Hello", "cc": "everyone"}, "cc"),
    ],
)
async def test_a_bad_conversation_is_refused_naming_the_field(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    body: dict[str, Any],
    field: str,
) -> None:
    payload = {"participant_id": str(world.teacher.id), **body}
    answer = await client.post("/conversations", headers=login_as(world.parent), json=payload)
    assert answer.status_code == 422, answer.text
    assert field in {str(part) for issue in answer.json()["detail"] for part in issue["loc"]}
    assert (await client.get("/conversations", headers=login_as(world.teacher))).json()[
        "items"
    ] == []


async def test_line_breaks_in_a_message_are_kept_and_a_bad_message_is_refused(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    conversation = await started(client, login_as, world.parent, world.teacher)
    kept = await written(client, login_as, world.teacher, conversation["id"], "One\r\nTwo")
    assert kept["text"] == "One\nTwo"
    url = f"/conversations/{conversation['id']}/messages"
    for text in ("", "\u2066hidden\u2069", "bell\x07"):
        answer = await client.post(url, headers=login_as(world.teacher), json={"text": text})
        assert answer.status_code == 422, text
        assert answer.json()["detail"][0]["loc"] == ["body", "text"]
    page = (await client.get(url, headers=login_as(world.teacher))).json()
    assert len(page["items"]) == 2


async def test_writing_to_yourself_or_to_nobody_is_refused(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    headers = login_as(world.parent)
    for participant, status, says in (
        (str(world.parent.id), 422, "write to someone else"),
        ("0" * 24, 404, "User not found"),
    ):
        answer = await client.post(
            "/conversations",
            headers=headers,
            json={"participant_id": participant, "subject": "Hi", "text": "Hello"},
        )
        assert answer.status_code == status, answer.text
        assert says in answer.json()["detail"]


async def test_a_deleted_teacher_cannot_be_written_to(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    conversation = await started(client, login_as, world.parent, world.teacher)
    deleted = await client.delete(f"/users/{world.teacher.id}", headers=login_as(world.admin))
    assert deleted.status_code == 204
    answer = await client.post(
        "/conversations",
        headers=login_as(world.parent),
        json={"participant_id": str(world.teacher.id), "subject": "Hi", "text": "Hello"},
    )
    assert answer.status_code == 404
    again = await client.post(
        f"/conversations/{conversation['id']}/messages",
        headers=login_as(world.parent),
        json={"text": "Hello?"},
    )
    assert again.status_code == 409


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_only_the_two_participants_reach_a_conversation(
    client: httpx.AsyncClient,
    world: World,
    others: Others,
    login_as: Login,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    conversation = await started(client, login_as, world.parent, world.teacher)
    url = path.format(id=conversation["id"])
    for stranger in (others.parent, world.student, world.admin, others.teacher):
        answer = await client.request(method, url, headers=login_as(stranger), json=body)
        assert answer.status_code == 404, (stranger.role, answer.text)
        assert answer.json()["detail"] == "Conversation not found"
    for bad_id in ("not-an-id", "1" * 24):
        answer = await client.request(
            method, path.format(id=bad_id), headers=login_as(world.parent), json=body
        )
        assert answer.status_code == 404
    assert (await client.request(method, url, json=body)).status_code == 401
    # Nothing a stranger tried got in.
    own = f"/conversations/{conversation['id']}/messages"
    page = (await client.get(own, headers=login_as(world.teacher))).json()
    assert [(m["text"], m["read_at"]) for m in page["items"]] == [
        (conversation["message"]["text"], None)
    ]


async def test_conversations_and_messages_page_with_a_cursor(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    teacher = login_as(world.teacher)
    first = await started(client, login_as, world.parent, world.teacher, subject="First")
    await started(client, login_as, world.student, world.teacher, subject="Second")
    await started(client, login_as, world.parent, world.teacher, subject="Third")
    for n in range(4):
        await written(client, login_as, world.teacher, first["id"], f"Reply {n}")

    pages: list[list[str]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/conversations", headers=teacher, params=params)).json()
        pages.append([c["subject"] for c in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # The latest message first: the first conversation has the newest replies.
    assert pages == [["First", "Third"], ["Second"]]

    texts: list[str] = []
    cursor = None
    url = f"/conversations/{first['id']}/messages"
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(url, headers=teacher, params=params)).json()
        assert len(page["items"]) <= 2
        texts += [m["text"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert texts == ["Reply 3", "Reply 2", "Reply 1", "Reply 0", first["message"]["text"]]

    for bad in ({"cursor": "garbage"}, {"limit": 0}, {"limit": 201}):
        assert (await client.get(url, headers=teacher, params=bad)).status_code == 422
        assert (await client.get("/conversations", headers=teacher, params=bad)).status_code == 422
