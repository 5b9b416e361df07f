"""A parent writes to the child's teacher, the teacher replies, and each sees the other's
messages, unread counts and read receipts."""

from __future__ import annotations

import httpx

from tests.conftest import World
from tests.messages.helpers import Login, message_emails, message_notices, started, written


async def test_a_parent_writes_the_teacher_replies_and_the_parent_sees_the_receipt(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    parent, teacher = login_as(world.parent), login_as(world.teacher)
    conversation = await started(client, login_as, world.parent, world.teacher)
    assert conversation["subject"] == "Homework in maths"
    assert conversation["unread"] == 0
    assert {p["user_id"] for p in conversation["participants"]} == {
        str(world.parent.id),
        str(world.teacher.id),
    }
    assert conversation["school_id"] == str(world.school.id)
    first = conversation["message"]
    assert first["read_at"] is None

    listed = (await client.get("/conversations", headers=teacher)).json()
    (item,) = listed["items"]
    assert item["id"] == conversation["id"] and item["unread"] == 1
    names = {p["user_id"]: p["full_name"] for p in item["participants"]}
    assert names[str(world.parent.id)] == world.parent.full_name

    cid = conversation["id"]
    assert (await client.post(f"/conversations/{cid}/read", headers=teacher)).status_code == 204
    reply = await written(client, login_as, world.teacher, cid, "Fractions, pages 12 to 14.")

    (item,) = (await client.get("/conversations", headers=teacher)).json()["items"]
    assert item["unread"] == 0
    (item,) = (await client.get("/conversations", headers=parent)).json()["items"]
    assert item["unread"] == 1 and item["last_sender_id"] == str(world.teacher.id)

    page = (await client.get(f"/conversations/{cid}/messages", headers=parent)).json()
    assert [m["text"] for m in page["items"]] == [reply["text"], first["text"]]
    mine = page["items"][1]
    assert mine["read_at"] is not None  # the teacher read it
    assert page["items"][0]["read_at"] is None

    assert (await client.post(f"/conversations/{cid}/read", headers=parent)).status_code == 204
    page = (await client.get(f"/conversations/{cid}/messages", headers=teacher)).json()
    assert page["items"][0]["read_at"] is not None
    assert len(await message_notices(world.teacher)) == 1
    assert len(await message_notices(world.parent)) == 1
    assert len(await message_emails(world.teacher)) == 1
