"""The demo's conversation: the 5A parent and the maths teacher have written, and a parent
of another class sees none of it."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from app.demo import DEMO_DOMAIN, DEMO_PASSWORD, load_demo


async def token(client: httpx.AsyncClient, who: str) -> dict[str, str]:
    answer = await client.post(
        "/auth/login", data={"username": f"{who}@{DEMO_DOMAIN}", "password": DEMO_PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def test_the_demo_parent_and_maths_teacher_have_a_conversation_others_cannot_see(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    assert await load_demo()
    sergey, irina = await token(client, "parent.smirnov"), await token(client, "teacher.math")
    maria = await token(client, "parent.orlova")  # Dima's mother, 6B

    (mine,) = (await client.get("/conversations", headers=sergey)).json()["items"]
    (theirs,) = (await client.get("/conversations", headers=irina)).json()["items"]
    assert mine["id"] == theirs["id"] and mine["unread"] == theirs["unread"] == 0
    names = sorted(p["full_name"] for p in mine["participants"])
    assert names == ["Irina Petrova", "Sergey Smirnov"]
    url = f"/conversations/{mine['id']}/messages"
    page = (await client.get(url, headers=sergey)).json()["items"]
    assert [m["sender_id"] for m in page] == [
        p["user_id"] for p in sorted(mine["participants"], key=lambda p: p["role"] != "teacher")
    ]
    assert all(m["read_at"] for m in page)

    # The conversation is open: the relation holds in the demo school.
    reply = await client.post(url, headers=sergey, json={"text": "Thank you!"})
    assert reply.status_code == 201
    assert (await client.get("/conversations", headers=maria)).json()["items"] == []
    assert (await client.get(url, headers=maria)).status_code == 404
