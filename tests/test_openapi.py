"""The OpenAPI document: one tag per operation, every error answer with its model, and
examples the API itself accepts."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError

from app.auth.models import User
from app.core.openapi import ErrorOut, ValidationErrorOut, api_routes
from tests.conftest import World

Login = Callable[[User], dict[str, str]]


@pytest.fixture
def spec(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def test_each_operation_is_listed_once_under_one_tag(spec: dict[str, Any]) -> None:
    untidy = [
        (m, p, op.get("tags")) for m, p, op in operations(spec) if len(op.get("tags", [])) != 1
    ]
    assert untidy == []
    by_tag = {op["tags"][0] for _, _, op in operations(spec)}
    assert {"guardians", "figures", "schools", "announcements"} <= by_tag


def test_every_error_answer_names_its_model(spec: dict[str, Any]) -> None:
    for method, path, operation in operations(spec):
        for code, answer in operation["responses"].items():
            if not code.startswith(("4", "5")) or code == "503":
                continue
            schema = answer["content"]["application/json"]["schema"]
            expected = {
                "$ref": "#/components/schemas/"
                + ("ValidationErrorOut" if code == "422" else "ErrorOut")
            }
            # An operation may declare an answer of its own beside the shared one (an import's
            # report of bad rows): either comes.
            assert schema == expected or expected in schema.get("anyOf", []), (method, path, code)
            assert answer["description"], (method, path, code)
    text = json.dumps(spec)
    referenced = set(re.findall(r"#/components/schemas/(\w+)", text))
    assert referenced <= set(spec["components"]["schemas"])


def documented(spec: dict[str, Any], method: str, path: str) -> set[int]:
    return {int(code) for code in spec["paths"][path][method]["responses"]}


async def test_real_error_answers_are_documented_with_the_model_they_have(
    client: httpx.AsyncClient, spec: dict[str, Any], world: World, login_as: Login
) -> None:
    parent, teacher = login_as(world.parent), login_as(world.teacher)
    assert world.school.id is not None
    cases: list[tuple[str, str, str, dict[str, Any]]] = [
        # (method, documented path, request path, options)
        ("get", "/api/v1/users/me", "/users/me", {}),  # 401: no token
        ("post", "/api/v1/grades", "/grades", {"headers": teacher, "json": {}}),  # 422 per field
        # 422 in one sentence, from a service rule rather than the request's shape.
        (
            "get",
            "/api/v1/schools",
            "/schools?cursor=not-a-cursor",
            {"headers": login_as(world.admin)},
        ),
        (
            "get",
            "/api/v1/schools/{school_id}",
            f"/schools/{'0' * 24}",
            {"headers": teacher},
        ),  # 403 or 404
        ("get", "/api/v1/stats", "/stats", {"headers": parent}),  # 403: not an admin
        (
            "post",
            "/api/v1/announcements",
            "/announcements",
            {
                "headers": parent,
                "json": {"school_id": str(world.school.id), "title": "x", "body": "y"},
            },
        ),  # 403: a parent may not broadcast
        (
            "delete",
            "/api/v1/announcements/{announcement_id}",
            f"/announcements/{'1' * 24}",
            {"headers": login_as(world.admin)},
        ),  # 404
    ]
    seen, shapes = set(), set()
    for method, path, url, options in cases:
        response = await client.request(method.upper(), url, **options)
        assert response.status_code >= 400, (method, url, response.text)
        seen.add(response.status_code)
        assert response.status_code in documented(spec, method, path), (
            method,
            path,
            response.status_code,
        )
        model = ValidationErrorOut if response.status_code == 422 else ErrorOut
        model.model_validate(response.json())
        if response.status_code == 422:
            shapes.add(type(response.json()["detail"]))
    assert {401, 403, 404, 422} <= seen
    assert shapes == {list, str}  # both kinds of 422 fit the one documented model


def constrained(annotation: Any, metadata: list[Any]) -> Any:
    """The type as the route validates it: the annotation with its constraints."""
    return Annotated[(annotation, *metadata)] if metadata else annotation


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in getattr(annotation, "__args__", ()):
        yield from _models(argument)


def refusal(model: type[BaseModel], name: str, example: Any) -> str | None:
    """Why the model refuses `example` for field `name` (its type, constraints and field
    validators, as for a request), or None when it takes it."""
    try:
        model.__pydantic_validator__.validate_assignment(model.model_construct(), name, example)
    except ValidationError as exc:
        # Only what is said about this field: the others of the bare instance are unset.
        about = [e["msg"] for e in exc.errors() if e["loc"] and e["loc"][0] == name]
        return "; ".join(about) or None
    except AttributeError:
        # A model validator, run after the field passed, read a field the bare instance lacks.
        return None
    return None


def _fields_with_examples(
    model: type[BaseModel], seen: set[Any]
) -> Iterator[tuple[type[BaseModel], str, list[Any]]]:
    if model in seen:
        return
    seen.add(model)
    for name, field in model.model_fields.items():
        examples = list(field.examples or [])
        extra = field.json_schema_extra
        if isinstance(extra, dict):
            listed = extra.get("examples")
            examples += listed if isinstance(listed, list) else []
            if "example" in extra:
                examples.append(extra["example"])
        if examples:
            yield model, name, examples
        for inner in _models(field.annotation):
            yield from _fields_with_examples(inner, seen)


def test_every_example_in_the_schema_is_accepted_by_its_route(app: FastAPI) -> None:
    checked = 0
    seen: set[Any] = set()
    for route in api_routes(app.router.routes):
        assert isinstance(route, APIRoute)
        dependants = [route.dependant]
        for dependant in dependants:
            dependants.extend(dependant.dependencies)
        parameters = [
            param
            for dependant in dependants
            for param in (*dependant.path_params, *dependant.query_params, *dependant.header_params)
        ]
        for param in parameters:
            for example in list(param.field_info.examples or []):
                info = param.field_info
                TypeAdapter(constrained(info.annotation, info.metadata)).validate_python(example)
                checked += 1
        if route.body_field is None:
            continue
        for model, name, examples in _fields_with_examples_of(
            route.body_field.field_info.annotation, seen
        ):
            for example in examples:
                why = refusal(model, name, example)
                assert why is None, (
                    f"{route.path}: {model.__name__}.{name} refuses {example!r}: {why}"
                )
                checked += 1
    # The ids' documented example is a real id, too.
    from app.core.db import ObjectIdField

    TypeAdapter(ObjectIdField).validate_python(
        app.openapi()["components"]["schemas"]["PydanticObjectId"]["example"]
    )
    assert checked >= 1


def _fields_with_examples_of(
    annotation: Any, seen: set[Any]
) -> Iterator[tuple[type[BaseModel], str, list[Any]]]:
    for model in _models(annotation):
        yield from _fields_with_examples(model, seen)


def schema_names(node: Any) -> set[str]:
    return set(re.findall(r"#/components/schemas/(\w+)", json.dumps(node)))


def test_every_field_a_client_sets_is_described(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    bodies: set[str] = set()
    undescribed = []
    for method, path, operation in operations(spec):
        bodies |= schema_names(operation.get("requestBody", {}))
        undescribed += [
            f"{method} {path} ?{parameter['name']}"
            for parameter in operation.get("parameters", [])
            if parameter["in"] != "path" and not parameter.get("description")
        ]
    pending = list(bodies)
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for field, schema in schemas[name].get("properties", {}).items():
            if not schema.get("description"):
                undescribed.append(f"{name}.{field}")
        pending.extend(schema_names(schemas[name]) - seen)
    assert undescribed == []
    assert len(seen) > 20


@pytest.mark.parametrize("as_admin", [False, True])
async def test_a_202_without_a_body_is_documented_without_one(
    client: httpx.AsyncClient, spec: dict[str, Any], world: World, login_as: Login, as_admin: bool
) -> None:
    # Both ways of mailing a reset link; the documentation once promised JSON for them.
    if as_admin:
        path = "/api/v1/users/{user_id}/password-reset"
        response = await client.post(
            f"/users/{world.teacher.id}/password-reset", headers=login_as(world.admin)
        )
    else:
        path = "/api/v1/auth/password-reset/request"
        response = await client.post(
            "/auth/password-reset/request", json={"email": "nobody@example.org"}
        )
    assert response.status_code == 202
    assert response.content == b""
    assert "content" not in spec["paths"][path]["post"]["responses"]["202"]
