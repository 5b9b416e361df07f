"""Who may write to whom (section 9), and a relation that ends closing a conversation."""

from __future__ import annotations

import httpx
import pytest

from app.auth.models import User
from tests.conftest import World
from tests.messages.conftest import Others
from tests.messages.helpers import Login, started, written

ALLOWED = [
    ("parent", "teacher"),
    ("teacher", "parent"),
    ("parent", "admin"),
    ("admin", "parent"),
    ("teacher", "student"),
    ("student", "teacher"),
]


def person(world: World, others: Others, name: str) -> User:
    if name.startswith("others."):
        found: User = getattr(others, name.removeprefix("others."))
        return found
    found = getattr(world, name)
    return found


@pytest.mark.parametrize(("writer", "reader"), ALLOWED)
async def test_the_pairs_section_9_allows_may_start_a_conversation(
    client: httpx.AsyncClient,
    world: World,
    others: Others,
    login_as: Login,
    writer: str,
    reader: str,
) -> None:
    one, other = person(world, others, writer), person(world, others, reader)
    conversation = await started(client, login_as, one, other, text="Hello")
    assert conversation["started_by"] == str(one.id)
    listed = (await client.get("/conversations", headers=login_as(other))).json()["items"]
    assert [c["id"] for c in listed] == [conversation["id"]]
    assert listed[0]["unread"] == 1


@pytest.mark.parametrize(
    ("writer", "reader"),
    [
        ("parent", "others.parent"),  # never parent to parent
        ("student", "others.student"),  # never student to student
        ("parent", "others.teacher"),  # a teacher who does not teach the child
        ("parent", "others.admin_elsewhere"),  # an admin of a school the child is not in
        ("others.parent", "teacher"),  # the teacher teaches another family's child
        ("teacher", "others.student"),  # not their student
        ("teacher", "others.teacher"),
        ("admin", "teacher"),
        ("admin", "student"),
        ("student", "parent"),  # a student writes to their teachers only
        ("student", "admin"),
    ],
)
async def test_every_other_pair_is_refused(
    client: httpx.AsyncClient,
    world: World,
    others: Others,
    login_as: Login,
    writer: str,
    reader: str,
) -> None:
    one, other = person(world, others, writer), person(world, others, reader)
    answer = await client.post(
        "/conversations",
        headers=login_as(one),
        json={"participant_id": str(other.id), "subject": "Hi", "text": "Hello"},
    )
    assert answer.status_code == 403, answer.text
    assert "may not write to this person" in answer.json()["detail"]
    for user in (one, other):
        assert (await client.get("/conversations", headers=login_as(user))).json()["items"] == []


async def closed_after(
    client: httpx.AsyncClient, login_as: Login, writer: User, conversation_id: str
) -> None:
    """The conversation refuses a new message with 409 saying so, and stays readable."""
    answer = await client.post(
        f"/conversations/{conversation_id}/messages",
        headers=login_as(writer),
        json={"text": "Are you still there?"},
    )
    assert answer.status_code == 409, answer.text
    assert "closed to new messages" in answer.json()["detail"]
    page = await client.get(f"/conversations/{conversation_id}/messages", headers=login_as(writer))
    assert page.status_code == 200
    assert [m["text"] for m in page.json()["items"]][-1] == "Hello"


async def test_a_teacher_taken_off_the_class_closes_the_parents_conversation(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    conversation = await started(client, login_as, world.parent, world.teacher, text="Hello")
    await written(client, login_as, world.teacher, conversation["id"], "Yes?")
    unassigned = await client.delete(
        f"/schools/{world.school.id}/classes/{world.class_5a.id}/teachers/{world.teacher.id}",
        headers=login_as(world.admin),
    )
    assert unassigned.status_code == 204
    for writer in (world.parent, world.teacher):
        await closed_after(client, login_as, writer, conversation["id"])
    read = await client.post(
        f"/conversations/{conversation['id']}/read", headers=login_as(world.parent)
    )
    assert read.status_code == 204


async def test_an_unlinked_guardian_can_no_longer_write_to_the_teacher_or_the_admin(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    with_teacher = await started(client, login_as, world.parent, world.teacher, text="Hello")
    with_admin = await started(client, login_as, world.admin, world.parent, text="Hello")
    unlinked = await client.delete(
        f"/users/me/children/{world.student.id}", headers=login_as(world.parent)
    )
    assert unlinked.status_code == 204
    await closed_after(client, login_as, world.parent, with_teacher["id"])
    await closed_after(client, login_as, world.admin, with_admin["id"])


async def test_a_student_taken_off_the_roster_closes_the_conversation_with_the_teacher(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    conversation = await started(client, login_as, world.teacher, world.student, text="Hello")
    await written(client, login_as, world.student, conversation["id"], "Good morning")
    removed = await client.delete(
        f"/schools/{world.school.id}/classes/{world.class_5a.id}/students/{world.student.id}",
        headers=login_as(world.admin),
    )
    assert removed.status_code == 204
    await closed_after(client, login_as, world.student, conversation["id"])
    await closed_after(client, login_as, world.teacher, conversation["id"])


async def test_a_relation_that_holds_again_reopens_the_conversation(
    client: httpx.AsyncClient, world: World, login_as: Login
) -> None:
    conversation = await started(client, login_as, world.teacher, world.student, text="Hello")
    roster = f"/schools/{world.school.id}/classes/{world.class_5a.id}/students/{world.student.id}"
    admin = login_as(world.admin)
    assert (await client.delete(roster, headers=admin)).status_code == 204
    await closed_after(client, login_as, world.teacher, conversation["id"])
    assert (await client.put(roster, headers=admin)).status_code == 204
    await written(client, login_as, world.teacher, conversation["id"], "Welcome back")
