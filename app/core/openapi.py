"""The OpenAPI document as clients need it: one tag per operation, every error with its model.

FastAPI documents the happy answer and a generic 422. The errors an operation can give
follow from what it depends on and what it calls, so they are worked out here once for
every route rather than written by hand on each: 401 for a logged-in route, 403 where a
role or relation is checked, 404 for an id in the path, 413 and 422 for a body, and the
domain errors (403, 404, 409, 429...) its code and the services it calls raise; plus any
a route declares itself.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from app.core.openapi_contract import check_routes, finish_contract


class ErrorOut(BaseModel):
    """Every error answer but a malformed request."""

    detail: str = Field(description="What was wrong, in words meant for the person asking.")


class FieldIssue(BaseModel):
    loc: list[str | int] = Field(description='Where: ["body", "value"], ["query", "limit"]…')
    msg: str = Field(description="What is wrong with it.")
    type: str = Field(description="A machine-readable kind, e.g. missing, int_parsing.")


class ValidationErrorOut(BaseModel):
    """A request that does not fit the operation: one entry per bad field when the request's
    shape is wrong, or one sentence when a rule of the service refuses it."""

    detail: list[FieldIssue] | str = Field(description="What is wrong: per field, or in words.")


ERROR_DESCRIPTIONS = {
    400: "The request cannot be carried out as asked",
    401: "Not logged in, or the access token is invalid, expired or revoked",
    403: "Logged in, but this role or relation may not do this",
    404: "Nothing with this id, or nothing this user may see",
    409: "Conflicts with what exists",
    413: "The body is larger than MAX_BODY_BYTES",
    422: "The request does not fit: the fields named in detail",
    429: "Too many requests; the Retry-After header says in how many seconds to try again",
    503: (
        "A dependency is down, or the database takes no writes now (dev's data folder is "
        "full); nothing was changed, and the Retry-After header says when to try again"
    ),
}


def _dependency_calls(route: APIRoute) -> Iterator[Callable[..., Any]]:
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if dependency.call is not None:
            yield dependency.call
        pending.extend(dependency.dependencies)


def _checks_role_or_relation(call: Callable[..., Any]) -> bool:
    module = getattr(call, "__module__", "") or ""
    qualname = getattr(call, "__qualname__", "") or ""
    # require_role(...) and the other dependencies of each domain's access.py.
    return (
        qualname.startswith("require_role")
        or module.endswith(".access")
        or (module.endswith(".router") and qualname.startswith("_"))
    )


def error_codes(route: APIRoute) -> set[int]:
    """The error statuses this route can answer with."""
    declared = {int(code) for code in route.responses if str(code).isdigit()}
    codes = {code for code in declared if code >= 400}
    calls = list(_dependency_calls(route))
    # A bearer-token scheme anywhere among the dependencies (auth's CurrentUser) can answer
    # 401; found by its type so that core need not import auth.
    if any(isinstance(call, SecurityBase) for call in calls):
        codes.add(401)
    if any(_checks_role_or_relation(call) for call in calls):
        codes.add(403)
    # Parameters of the dependencies too: an access dependency takes the path's id.
    dependants = [route.dependant]
    for dependant in dependants:
        dependants.extend(dependant.dependencies)
    if any(dependant.path_params for dependant in dependants):
        codes.add(404)
    if route.body_field is not None:
        codes.update({413, 422})
    if any(d.path_params or d.query_params or d.header_params for d in dependants):
        codes.add(422)
    codes.update(_raised_codes(route.endpoint))
    # Any write can meet a database that takes none (core.errors.StorageUnavailable).
    if (route.methods or set()) - {"GET", "HEAD", "OPTIONS"}:
        codes.add(503)
    return codes


# The domain errors of core/errors.py by the status they answer with.
_ERROR_CLASSES = {
    "BadRequest": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "NotFound": 404,
    "Conflict": 409,
    "Unprocessable": 422,
    "TooManyRequests": 429,
    "enforce": 429,  # core.ratelimit.enforce raises TooManyRequests
}
_CALL = re.compile(r"\b(?:(\w+)\.)?(\w+)\(")


def _raised_codes(function: Callable[..., Any], depth: int = 3) -> set[int]:
    """The statuses of the domain errors `function` raises, or the app functions it calls
    do (a few calls deep): what a router's service call can answer with."""
    seen: set[Any] = set()
    codes: set[int] = set()
    pending = [(function, depth)]
    while pending:
        current, level = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            source = inspect.getsource(current)
        except (OSError, TypeError):
            continue
        namespace = getattr(current, "__globals__", {})
        for owner, name in _CALL.findall(source):
            if name in _ERROR_CLASSES:
                codes.add(_ERROR_CLASSES[name])
                continue
            if level == 0:
                continue
            target = getattr(namespace.get(owner), name, None) if owner else namespace.get(name)
            module = getattr(target, "__module__", "") or ""
            if callable(target) and module.startswith("app.") and not module.startswith("app.core"):
                pending.append((target, level - 1))
    return codes


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            if route.include_in_schema:
                yield route
        elif hasattr(route, "original_router"):  # an included router (FastAPI 0.16x)
            yield from api_routes(route.original_router.routes)


def _operation_of(spec: dict[str, Any], route: APIRoute, method: str) -> dict[str, Any] | None:
    found = [
        operation
        for path, operations in spec["paths"].items()
        if path.endswith(route.path_format)
        for name, operation in operations.items()
        if name == method.lower() and operation.get("operationId") == route.operation_id
    ]
    return found[0] if len(found) == 1 else None


def _reference(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def tidy_openapi(app: FastAPI) -> None:
    """Replace app.openapi with one that gives each operation one tag (its own, the most
    specific) and documents every error it can answer with, each with its model."""

    check_routes(api_routes(app.router.routes))
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = generate()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        _, definitions = models_json_schema(
            [(model, "validation") for model in (ErrorOut, ValidationErrorOut)],
            ref_template="#/components/schemas/{model}",
        )
        schemas.update(definitions["$defs"])
        for route in api_routes(app.router.routes):
            for method in route.methods or ():
                operation = _operation_of(spec, route, method)
                if operation is None:
                    continue
                if len(operation.get("tags", [])) > 1:
                    # A router's tag and the route's own: the route's says more.
                    operation["tags"] = operation["tags"][-1:]
                responses = operation.setdefault("responses", {})
                for code in sorted(error_codes(route)):
                    model = ValidationErrorOut if code == 422 else ErrorOut
                    answer = responses.setdefault(str(code), {})
                    answer.setdefault("description", ERROR_DESCRIPTIONS.get(code, "Error"))
                    schema: dict[str, Any] = dict(_reference(model))
                    # An operation that declares an answer of its own for this status (an
                    # import's report of bad rows) may give either.
                    declared = answer.get("content", {}).get("application/json", {}).get("schema")
                    if (
                        declared
                        and not str(declared.get("$ref", "")).endswith("/HTTPValidationError")
                        and declared != schema
                    ):
                        schema = {"anyOf": [declared, schema]}
                    answer["content"] = {"application/json": {"schema": schema}}
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = spec = finish_contract(app, spec)
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
