"""POST, GET and DELETE /subscriptions: who may follow what."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from bson import ObjectId

from app.auth.models import User
from app.notifications.models import Subscription, TargetType
from tests.notifications.helpers import Campus

Login = Callable[[User], dict[str, str]]

# (caller, target type, target, expected status). Targets: "s5a" (a student of 5A),
# "5A" (a class), "school" (the campus school), "other_school".
ACCESS: list[tuple[str, str, str, int]] = [
    # A student: the student and their linked parents only.
    ("s5a", "student", "s5a", 201),
    ("p_child", "student", "s5a", 200),  # already follows the child
    ("p_unsub", "student", "s5a", 201),  # linked, not yet subscribed
    ("p_other_child", "student", "s5a", 403),  # parent of another child
    ("s5a2", "student", "s5a", 403),  # a classmate
    ("t5a", "student", "s5a", 403),  # even the student's own teacher
    ("admin", "student", "s5a", 403),
    ("p_foreign", "student", "s5a", 403),
    # A class: its roster, its teachers, parents of roster students, the school's admin.
    ("s5a", "class", "5A", 201),
    ("t5a", "class", "5A", 201),
    ("p_child", "class", "5A", 201),
    ("p_class5a", "class", "5A", 200),  # already follows it
    ("admin", "class", "5A", 201),
    ("s6b", "class", "5A", 403),  # same school, other class
    ("t6b", "class", "5A", 403),  # teaches another class of the school
    ("t_none", "class", "5A", 403),
    ("p_other_child", "class", "5A", 403),  # child in 6B
    ("so", "class", "5A", 403),
    ("to", "class", "5A", 403),
    ("ao", "class", "5A", 403),  # admin of another school
    ("p_foreign", "class", "5A", 403),
    # A school: its students, teachers and admins, and parents of its students.
    ("s5a", "school", "school", 201),
    ("t_none", "school", "school", 201),
    ("t5a", "school", "school", 201),
    ("admin", "school", "school", 201),
    ("p_child", "school", "school", 201),
    ("p_other_child", "school", "school", 201),
    ("so", "school", "school", 403),
    ("to", "school", "school", 403),
    ("ao", "school", "school", 403),
    ("p_foreign", "school", "school", 403),
    ("p_class5a", "school", "school", 201),
    ("p_foreign", "school", "other_school", 200),  # already follows it
    ("p_child", "school", "other_school", 403),
]


def _target(campus: Campus, name: str) -> str:
    targets = {
        "s5a": campus.id("s5a"),
        "5A": campus.class_5a.id,
        "school": campus.school.id,
        "other_school": campus.other_school.id,
    }
    return str(targets[name])


@pytest.mark.parametrize(
    ("caller", "target_type", "target", "expected"),
    ACCESS,
    ids=[f"{c}-{t}-{n}-{e}" for c, t, n, e in ACCESS],
)
async def test_who_may_follow_what(
    client: httpx.AsyncClient,
    campus: Campus,
    login_as: Login,
    caller: str,
    target_type: str,
    target: str,
    expected: int,
) -> None:
    user = campus.people[caller]
    before = await Subscription.find({"subscriber_id": user.id}).count()
    response = await client.post(
        "/subscriptions",
        json={"target_type": target_type, "target_id": _target(campus, target)},
        headers=login_as(user),
    )
    assert response.status_code == expected, response.text
    after = await Subscription.find({"subscriber_id": user.id}).count()
    if expected in (200, 201):
        body = response.json()
        assert body["target_type"] == target_type
        assert body["target_id"] == _target(campus, target)
        assert sorted(body["topics"]) == ["announcements", "attendance", "grades", "homework"]
        assert after == before + (1 if expected == 201 else 0)
    else:
        assert after == before


async def test_same_subscription_twice_returns_the_first(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    headers = login_as(campus.people["p_unsub"])
    body = {"target_type": "student", "target_id": str(campus.id("s5a")), "topics": ["grades"]}
    first = await client.post("/subscriptions", json=body, headers=headers)
    second = await client.post("/subscriptions", json=body, headers=headers)
    assert first.status_code == 201
    assert first.json()["topics"] == ["grades"]
    assert second.status_code == 200
    assert second.json() == first.json()
    assert await Subscription.find({"subscriber_id": campus.id("p_unsub")}).count() == 1


@pytest.mark.parametrize("target_type", ["student", "class", "school"])
async def test_unknown_target_is_404(
    client: httpx.AsyncClient, campus: Campus, login_as: Login, target_type: str
) -> None:
    response = await client.post(
        "/subscriptions",
        json={"target_type": target_type, "target_id": str(ObjectId())},
        headers=login_as(campus.people["admin"]),
    )
    assert response.status_code == 404


@pytest.mark.parametrize("target_type", ["student", "class", "school"])
async def test_malformed_target_id_is_404(
    client: httpx.AsyncClient, campus: Campus, login_as: Login, target_type: str
) -> None:
    response = await client.post(
        "/subscriptions",
        json={"target_type": target_type, "target_id": "not-an-id"},
        headers=login_as(campus.people["admin"]),
    )
    assert response.status_code == 404


async def test_a_user_who_is_not_a_student_is_not_a_student_target(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    # The teacher's own id, followed as a "student": hides that the id exists.
    teacher = campus.people["t5a"]
    response = await client.post(
        "/subscriptions",
        json={"target_type": "student", "target_id": str(teacher.id)},
        headers=login_as(teacher),
    )
    assert response.status_code == 404


BAD_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("unknown target type", {"target_type": "district", "target_id": "TARGET"}),
    ("no target type", {"target_id": "TARGET"}),
    ("no target id", {"target_type": "school"}),
    ("empty target id", {"target_type": "school", "target_id": ""}),
    ("huge target id", {"target_type": "school", "target_id": "a" * 65}),
    ("unknown topic", {"target_type": "school", "target_id": "TARGET", "topics": ["sport"]}),
    ("account topic", {"target_type": "school", "target_id": "TARGET", "topics": ["account"]}),
    ("empty topics", {"target_type": "school", "target_id": "TARGET", "topics": []}),
    ("topics not a list", {"target_type": "school", "target_id": "TARGET", "topics": "grades"}),
    ("unknown field", {"target_type": "school", "target_id": "TARGET", "email": "daily"}),
]


@pytest.mark.parametrize(("case", "body"), BAD_BODIES, ids=[c for c, _ in BAD_BODIES])
async def test_bad_subscription_body_is_422(
    client: httpx.AsyncClient, campus: Campus, login_as: Login, case: str, body: dict[str, Any]
) -> None:
    body = {k: (str(campus.school.id) if v == "TARGET" else v) for k, v in body.items()}
    response = await client.post(
        "/subscriptions", json=body, headers=login_as(campus.people["s5a"])
    )
    assert response.status_code == 422, case
    assert await Subscription.find({"subscriber_id": campus.id("s5a")}).count() == 0


async def test_list_shows_only_own_subscriptions_newest_first_and_pages(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    # p_all follows the school, class 5A and the child (in that order); others follow too.
    headers = login_as(campus.people["p_all"])
    first = await client.get("/subscriptions", params={"limit": 2}, headers=headers)
    assert first.status_code == 200
    page1 = first.json()
    assert [s["target_type"] for s in page1["items"]] == ["student", "class"]
    assert page1["next_cursor"]
    second = await client.get(
        "/subscriptions", params={"limit": 2, "cursor": page1["next_cursor"]}, headers=headers
    )
    page2 = second.json()
    assert [s["target_type"] for s in page2["items"]] == ["school"]
    assert page2["next_cursor"] is None
    ids = {s["id"] for s in page1["items"] + page2["items"]}
    own = await Subscription.find({"subscriber_id": campus.id("p_all")}).to_list()
    assert ids == {str(s.id) for s in own}


async def test_list_of_someone_with_none_is_empty(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    response = await client.get("/subscriptions", headers=login_as(campus.people["p_unsub"]))
    assert response.json() == {"items": [], "next_cursor": None}


async def test_list_with_malformed_cursor_is_422(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    response = await client.get(
        "/subscriptions", params={"cursor": "!!nope"}, headers=login_as(campus.people["p_all"])
    )
    assert response.status_code == 422


async def test_delete_own_subscription(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    owner = campus.people["p_school"]
    subscription = await Subscription.find_one(
        {"subscriber_id": owner.id, "target_type": TargetType.school}
    )
    assert subscription is not None
    response = await client.delete(f"/subscriptions/{subscription.id}", headers=login_as(owner))
    assert response.status_code == 204
    assert await Subscription.get(subscription.id) is None
    again = await client.delete(f"/subscriptions/{subscription.id}", headers=login_as(owner))
    assert again.status_code == 404


async def test_delete_someone_elses_subscription_is_404(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    subscription = await Subscription.find_one({"subscriber_id": campus.id("p_school")})
    assert subscription is not None
    for intruder in ("p_all", "admin"):
        response = await client.delete(
            f"/subscriptions/{subscription.id}", headers=login_as(campus.people[intruder])
        )
        assert response.status_code == 404
    assert await Subscription.get(subscription.id) is not None


@pytest.mark.parametrize("subscription_id", ["nope", str(ObjectId())])
async def test_delete_malformed_or_unknown_id_is_404(
    client: httpx.AsyncClient, campus: Campus, login_as: Login, subscription_id: str
) -> None:
    response = await client.delete(
        f"/subscriptions/{subscription_id}", headers=login_as(campus.people["p_all"])
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/subscriptions"),
        ("post", "/subscriptions"),
        ("delete", f"/subscriptions/{ObjectId()}"),
    ],
)
async def test_subscriptions_need_a_login(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    kwargs: dict[str, Any] = {"json": {}} if method == "post" else {}
    response = await client.request(method, path, **kwargs)
    assert response.status_code == 401


async def test_a_parent_whose_only_child_there_was_deleted_may_not_follow_the_school(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    # p_class5a's only child is s5a2; once that account is deleted the parent has no child
    # in the school, and following it would reach nothing (fan-out asks for live pupils).
    await campus.people["s5a2"].set({"deleted_at": datetime.now(UTC)})
    response = await client.post(
        "/subscriptions",
        json={"target_type": "school", "target_id": str(campus.school.id)},
        headers=login_as(campus.people["p_class5a"]),
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "Only members of this school may follow it"
