"""What a generated client relies on in the OpenAPI document: answers require what they always
send, requests leave defaults optional, error answers name their headers and the server sends
them, ids have the pattern the server takes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from bson import ObjectId
from fastapi import FastAPI

from app.auth.models import User
from app.core.openapi import OBJECT_ID_PATTERN
from tests.conftest import World

Login = Callable[[User], dict[str, str]]
REF = "#/components/schemas/"
# Fields an answer leaves out when they are empty (pydantic's exclude_if): only the admin's
# figures of an announcement that asks for acknowledgement have them.
LEFT_OUT_WHEN_EMPTY = {"AnnouncementStats": {"acknowledged", "pending"}}


@pytest.fixture
def spec(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def referenced(node: Any, schemas: dict[str, Any], found: set[str]) -> set[str]:
    """Every schema `node` reaches through references."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF) and ref[len(REF) :] not in found:
            found.add(ref[len(REF) :])
            referenced(schemas[ref[len(REF) :]], schemas, found)
        for value in node.values():
            referenced(value, schemas, found)
    elif isinstance(node, list):
        for value in node:
            referenced(value, schemas, found)
    return found


def objects(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object schema with properties in `node`, inline ones included."""
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            yield where, node
        for key, value in node.items():
            if key != "$ref":
                yield from objects(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from objects(value, f"{where}[{index}]")


def answer_schema(spec: dict[str, Any], method: str, path: str, code: str = "200") -> str:
    """The name of the schema an operation answers with."""
    answer = spec["paths"][path][method]["responses"][code]
    ref: str = answer["content"]["application/json"]["schema"]["$ref"]
    return ref[len(REF) :]


def stored_notice_shapes(spec: dict[str, Any]) -> set[str]:
    """The `data` shapes of the notification union: documented as stored, where a notice
    older than a field lacks it."""
    schemas = spec["components"]["schemas"]
    page = schemas[answer_schema(spec, "get", "/api/v1/notifications")]
    union = schemas[page["properties"]["items"]["items"]["$ref"][len(REF) :]]
    shapes: set[str] = set()
    for ref in union["discriminator"]["mapping"].values():
        data = schemas[ref[len(REF) :]]["properties"]["data"]
        shapes |= referenced(data, schemas, set())
    return shapes


def test_every_answer_requires_each_field_it_always_sends(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    answers: set[str] = set()
    for _, _, operation in operations(spec):
        referenced(operation["responses"], schemas, answers)
    stored = stored_notice_shapes(spec)
    assert stored, "the notification union documents no topic's data"
    optional = []
    for name in sorted(answers - stored):
        for where, schema in objects(schemas[name], name):
            left_out = set(schema["properties"]) - set(schema.get("required", []))
            left_out -= LEFT_OUT_WHEN_EMPTY.get(where, set())
            optional += [f"{where}.{field}" for field in sorted(left_out)]
    assert optional == []
    assert len(answers) > 40
    # The two the issue named: always there, null when there is nothing.
    page = schemas[answer_schema(spec, "get", "/api/v1/notifications")]
    assert "next_cursor" in page["required"]
    assert {"type": "null"} in page["properties"]["next_cursor"]["anyOf"]
    announcement = answer_schema(spec, "get", "/api/v1/announcements/{announcement_id}")
    assert "stats" in schemas[announcement]["required"]


def test_a_request_may_leave_out_every_field_with_a_default(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    bodies: set[str] = set()
    for _, _, operation in operations(spec):
        referenced(operation.get("requestBody", {}), schemas, bodies)
    required_defaults = [
        f"{where}.{field}"
        for name in sorted(bodies)
        for where, schema in objects(schemas[name], name)
        for field, property_schema in schema["properties"].items()
        if "default" in property_schema and field in schema.get("required", [])
    ]
    assert required_defaults == []
    # The same model sent and received is two schemas: optional fields in the request,
    # every field in the answer.
    put = spec["paths"]["/api/v1/users/me/preferences"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"]["$ref"] == (
        f"{REF}Preferences"
    )
    assert "required" not in schemas["Preferences"]
    answer = put["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert set(schemas[answer[len(REF) :]]["required"]) >= {"email", "in_app", "quiet_hours"}


async def test_a_subscription_cannot_follow_account_mail(
    client: httpx.AsyncClient, spec: dict[str, Any], world: World, login_as: Login
) -> None:
    topics = spec["components"]["schemas"]["SubscriptionIn"]["properties"]["topics"]
    assert "account" not in topics["anyOf"][0]["items"]["enum"]
    body = {"target_type": "student", "target_id": str(world.student.id), "topics": ["account"]}
    refused = await client.post("/subscriptions", json=body, headers=login_as(world.parent))
    assert refused.status_code == 422, refused.text


def test_error_answers_document_their_headers(spec: dict[str, Any]) -> None:
    expected = {"401": "WWW-Authenticate", "429": "Retry-After", "503": "Retry-After"}
    counted = dict.fromkeys(expected, 0)
    for method, path, operation in operations(spec):
        for code, header in expected.items():
            if code in operation["responses"]:
                assert header in operation["responses"][code].get("headers", {}), (
                    method,
                    path,
                    code,
                )
                counted[code] += 1
    assert all(counted.values()), counted


async def test_a_401_and_a_429_carry_the_headers_documented(
    client: httpx.AsyncClient, world: World
) -> None:
    unknown = await client.get("/users/me", headers={"Authorization": "Bearer not-a-token"})
    assert unknown.status_code == 401
    assert unknown.headers["WWW-Authenticate"] == "Bearer"
    missing = await client.get("/users/me")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    # A wrong password, again and again, from one address: the per-account limit.
    answers = [
        await client.post(
            "/auth/login", data={"username": world.parent.email, "password": "wrong-password"}
        )
        for _ in range(12)
    ]
    statuses = {answer.status_code for answer in answers}
    assert statuses <= {401, 429} and 429 in statuses, statuses
    for answer in answers:
        if answer.status_code == 429:
            assert int(answer.headers["Retry-After"]) >= 1
        else:
            assert answer.headers["WWW-Authenticate"] == "Bearer"


def test_ids_have_the_pattern_the_server_takes(spec: dict[str, Any]) -> None:
    schema = spec["components"]["schemas"]["PydanticObjectId"]
    assert schema["pattern"] == OBJECT_ID_PATTERN
    for candidate in ("5EB7CF5A86D9755DF3A6C593", "5eb7cf5a86d9755df3a6c593", "5eb7cf5a86d9"):
        assert bool(re.fullmatch(schema["pattern"].strip("^$"), candidate)) == (
            ObjectId.is_valid(candidate)
        )
    for _, _, operation in operations(spec):
        for parameter in operation.get("parameters", []):
            assert parameter["schema"].get("pattern") in (None, OBJECT_ID_PATTERN)


async def test_ids_in_a_body_or_query_that_name_nothing_answer_a_documented_404(
    client: httpx.AsyncClient, spec: dict[str, Any], world: World, login_as: Login
) -> None:
    nobody = str(ObjectId())
    cases = [
        (
            "post",
            "/grades",
            {"student_id": str(world.student.id), "class_id": nobody, "subject": "math"},
            login_as(world.teacher),
        ),
        ("post", "/subscriptions", {"target_type": "class", "target_id": nobody}, None),
    ]
    for method, path, body, headers in cases:
        response = await client.request(
            method.upper(),
            path,
            json={**body, "value": 5} if path == "/grades" else body,
            headers=headers or login_as(world.parent),
        )
        assert response.status_code == 404, (path, response.text)
        assert "404" in spec["paths"]["/api/v1" + path][method]["responses"], path
    # Logging in names no document: OAuth2's client_id is not one of ours.
    assert "404" not in spec["paths"]["/api/v1/auth/login"]["post"]["responses"]
