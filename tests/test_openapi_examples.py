"""The document's examples work: every request example, sent as the role that may send it with
ids of a real school put in, is accepted; every answer's example fits its schema; and the
notices those requests publish, as GET /notifications serves them, fit the member of the
notification union their topic names."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema_rs
import pytest
from fastapi import FastAPI

from app.auth import tokens
from app.auth.models import AccountTokenPurpose, Role, User
from app.core.openapi import api_routes
from app.notifications.topics import topics
from tests.conftest import DEFAULT_PASSWORD, UserFactory, World
from tests.grades.helpers import school_today

Login = Callable[[User], dict[str, str]]
REF = "#/components/schemas/"
PREFIX = "/api/v1"


@pytest.fixture
def spec(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def validator(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A JSON Schema validator for `schema`, its references resolved in the document."""
    return jsonschema_rs.validator_for({**schema, "components": spec["components"]})


def example(spec: dict[str, Any], method: str, path: str) -> Any:
    content = spec["paths"][PREFIX + path][method]["requestBody"]["content"]
    return next(iter(content.values()))["example"]


def test_every_request_body_and_every_answer_has_an_example_that_fits(
    app: FastAPI, spec: dict[str, Any]
) -> None:
    checked = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {})
            for media_type, content in body.items():
                if media_type == "multipart/form-data":
                    continue  # a file
                assert "example" in content, (method, path)
                validator(spec, content["schema"]).validate(content["example"])
                checked += 1
            answered = False
            for code, answer in operation["responses"].items():
                for content in answer.get("content", {}).values():
                    if "schema" in content and content["schema"].get("format") != "binary":
                        assert "example" in content, (method, path, code)
                        validator(spec, content["schema"]).validate(content["example"])
                        answered = True
            successes = [code for code in operation["responses"] if code.startswith("2")]
            assert answered or successes, (method, path)
    assert checked > 30
    # A body built from the examples passes the route's own validation too (cross-field
    # rules included: an event ends after it starts, a lesson after it begins).
    for route in api_routes(app.router.routes):
        if route.body_field is None or route.path.endswith("/import"):
            continue
        for method in route.methods or ():
            sample = example(spec, method.lower(), route.path)
            route.body_field.validate(sample, {}, loc=("body",))
            errors = route.body_field.validate(sample, {}, loc=("body",))[1]
            assert not errors, (method, route.path, errors)


def substituted(value: Any, ids: dict[str, str], fields: dict[str, Any]) -> Any:
    """The example with a real id for each `..._id`/`..._ids` field and the given values."""
    if isinstance(value, dict):
        return {
            key: (
                fields[key]
                if key in fields
                else [ids[key.removesuffix("s")]]
                if key.endswith("_ids") and key.removesuffix("s") in ids
                else ids[key]
                if key.endswith("_id") and key in ids
                else substituted(item, ids, fields)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [substituted(item, ids, fields) for item in value]
    return value


async def test_every_request_example_is_accepted_and_its_notices_fit_the_document(
    client: httpx.AsyncClient,
    spec: dict[str, Any],
    world: World,
    login_as: Login,
    make_user: UserFactory,
) -> None:
    admin, teacher = login_as(world.admin), login_as(world.teacher)
    parent, student = login_as(world.parent), login_as(world.student)
    # The school's own date: a timetable change notifies only when it lies ahead there.
    today = school_today(world)
    ids = {
        "school_id": str(world.school.id),
        "class_id": str(world.class_5a.id),
        "student_id": str(world.student.id),
        "teacher_id": str(world.teacher.id),
        "participant_id": str(world.teacher.id),
        "target_id": str(world.student.id),
    }
    school, klass = f"/schools/{world.school.id}", f"/schools/{world.school.id}/classes"
    five_a = f"{klass}/{world.class_5a.id}"
    sent: set[tuple[str, str]] = set()

    async def send(
        method: str,
        path: str,
        headers: dict[str, str],
        url: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        body = substituted(example(spec, method, path), ids, fields)
        response = await client.request(method.upper(), url or path, json=body, headers=headers)
        assert response.status_code < 300, (method, path, body, response.text)
        sent.add((method, path))
        return response.json() if response.content else {}

    await send("put", "/schools/{school_id}/subjects", admin, f"{school}/subjects")
    await send("patch", "/schools/{school_id}", admin, school, name="School 12")
    await send("post", "/schools", admin, name="School 13")
    created = await send("post", "/schools/{school_id}/classes", admin, f"{klass}", year=6)
    await send(
        "patch",
        "/schools/{school_id}/classes/{class_id}",
        admin,
        f"{klass}/{created['id']}",
        name="6C",
        year=6,
    )
    await send(
        "put",
        "/schools/{school_id}/classes/{class_id}/teachers/{teacher_id}",
        admin,
        f"{klass}/{created['id']}/teachers/{world.teacher.id}",
    )
    await send(
        "put",
        "/schools/{school_id}/classes/{class_id}/timetable",
        admin,
        f"{five_a}/timetable",
        lessons=[
            {
                "weekday": day,
                "period": 1,
                "starts": "08:30",
                "ends": "09:15",
                "subject": "math",
                "teacher_id": ids["teacher_id"],
                "room": "12",
            }
            for day in range(1, 8)
        ],
    )
    await send(
        "post",
        "/schools/{school_id}/classes/{class_id}/timetable/changes",
        admin,
        f"{five_a}/timetable/changes",
        date=today.isoformat(),
    )
    grade = await send("post", "/grades", teacher, date=today.isoformat())
    await send(
        "patch", "/grades/{grade_id}", teacher, f"/grades/{grade['id']}", date=today.isoformat()
    )
    await send("post", "/grades/batch", teacher, date=today.isoformat())
    await send("post", "/announcements", admin, roles=["student", "parent"])
    event = await send("post", "/events", admin, roles=["parent", "student"])
    await send(
        "patch",
        "/events/{event_id}",
        admin,
        f"/events/{event['id']}",
        starts_at="2030-09-14T17:00:00+03:00",
        ends_at="2030-09-14T19:00:00+03:00",
        rsvp_deadline="2030-09-13T17:00:00+03:00",
        capacity=10,
    )
    await send("put", "/events/{event_id}/rsvp", parent, f"/events/{event['id']}/rsvp")
    due = (today + dt.timedelta(days=2)).isoformat()
    homework = await send("post", "/homework", teacher, due=due)
    await send("patch", "/homework/{homework_id}", teacher, f"/homework/{homework['id']}", due=due)
    await send(
        "put",
        "/schools/{school_id}/classes/{class_id}/attendance/{date}",
        teacher,
        f"{five_a}/attendance/{today.isoformat()}",
    )
    note = await send(
        "post",
        "/students/{student_id}/absence-notes",
        parent,
        f"/students/{world.student.id}/absence-notes",
        date=today.isoformat(),
    )
    await send("patch", "/absence-notes/{note_id}", teacher, f"/absence-notes/{note['id']}")
    conversation = await send("post", "/conversations", parent)
    await send(
        "post",
        "/conversations/{conversation_id}/messages",
        teacher,
        f"/conversations/{conversation['id']}/messages",
    )
    await send(
        "put",
        "/users/me/children/{student_id}/alerts",
        parent,
        f"/users/me/children/{world.student.id}/alerts",
    )
    await send("post", "/subscriptions", parent, topics=["grades", "homework"])
    await send("put", "/users/me/preferences", parent)
    await send("patch", "/users/me/preferences", parent)

    # Every topic reached someone's inbox, and each notice fits its member of the union.
    served: dict[str, list[dict[str, Any]]] = {}
    for headers in (parent, student, teacher, admin):
        inbox = await client.get("/notifications", params={"limit": 200}, headers=headers)
        assert inbox.status_code == 200, inbox.text
        for item in inbox.json()["items"]:
            served.setdefault(item["topic"], []).append(item)
    assert set(served) == set(topics.names())
    schemas = spec["components"]["schemas"]
    union = schemas["NotificationOut"]
    for topic, items in served.items():
        member = validator(spec, {"$ref": union["discriminator"]["mapping"][topic]})
        for item in items:
            member.validate(item)
        # The typed fields a client reads are there, not only allowed.
        data_ref = schemas[union["discriminator"]["mapping"][topic][len(REF) :]]
        required = schemas[data_ref["properties"]["data"]["$ref"][len(REF) :]].get("required", [])
        assert all(set(required) <= set(item["data"]) for item in items), topic

    # Last, since they end sessions (a new password, a reset).
    # Accounts: the addresses and secrets are the school's own, the rest the examples'.
    await send("post", "/auth/register", {}, email="new.parent@example.org")
    login_form = {**example(spec, "post", "/auth/login"), "username": world.parent.email}
    login_form["password"] = DEFAULT_PASSWORD
    logged_in = await client.post("/auth/login", data=login_form)
    assert logged_in.status_code == 200, logged_in.text
    sent.add(("post", "/auth/login"))
    pair = await send("post", "/auth/refresh", {}, refresh_token=logged_in.json()["refresh_token"])
    await send("post", "/auth/logout", {}, refresh_token=pair["refresh_token"])
    await send("post", "/auth/password-reset/request", {}, email=world.teacher.email)
    for path, purpose in (
        ("/auth/verify-email", AccountTokenPurpose.verify_email),
        ("/auth/password-reset/confirm", AccountTokenPurpose.password_reset),
    ):
        token = await tokens._issue_account_token(
            user=world.student, purpose=purpose, ttl=dt.timedelta(minutes=30)
        )
        await send("post", path, {}, token=token)
    await send(
        "patch",
        "/users/me",
        teacher,
        email="irina.petrova@example.org",
        current_password=DEFAULT_PASSWORD,
    )
    await send("post", "/users", admin, email="new.teacher@example.org", role="teacher")
    await send("patch", "/users/{user_id}", admin, f"/users/{world.teacher.id}")
    code = await send(
        "post",
        "/students/{student_id}/guardian-codes",
        admin,
        f"/students/{world.student.id}/guardian-codes",
    )
    second_parent = await make_user(Role.parent)
    await send("post", "/users/me/children", login_as(second_parent), code=code["code"])

    documented = {
        (method, path.removeprefix(PREFIX))
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    }
    # The import takes a spreadsheet: tests/onboarding sends the sample file.
    assert documented - sent == {("post", "/schools/{school_id}/import")}
