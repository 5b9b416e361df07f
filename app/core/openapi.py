"""The OpenAPI document as clients need it: one tag per operation, every error with its model.

FastAPI documents the happy answer and a generic 422. The errors an operation can give
follow from what it depends on and what it calls, so they are worked out here once for
every route rather than written by hand on each: 401 for a logged-in route, 403 where a
role or relation is checked, 404 for an id in the path, 413 and 422 for a body, and the
domain errors (403, 404, 409, 429...) its code and the services it calls raise; plus any
a route declares itself.

Response schemas say what is always sent: every field an answer carries is required
(nullable where it may be null), while a request's fields with defaults stay optional.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import fastapi._compat.v2 as fastapi_schemas
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema
from pydantic_core import core_schema

from app.core.openapi_contract import check_routes, finish_contract
from app.core.openapi_examples import add_examples

REF_TEMPLATE = "#/components/schemas/{model}"
OBJECT_ID_PATTERN = "^[0-9a-fA-F]{24}$"


class RequiredWhenSent(fastapi_schemas.GenerateJsonSchema):
    """Answers are serialised whole, so in an answer's schema every field is required unless
    it is left out when empty (`exclude_if`); a model documented as it was stored rather than
    as it is sent (`json_schema_mode_override="validation"`) keeps its defaults optional."""

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,
    ) -> bool:
        if self.mode == "serialization" and field["type"] != "typed-dict-field":
            return field.get("serialization_exclude_if") is None and not field.get(
                "serialization_exclude"
            )
        return super().field_is_required(field, total)


@contextmanager
def _answers_required_when_sent() -> Iterator[None]:
    # FastAPI builds its schema generator inside get_openapi with no way to pass one.
    original = fastapi_schemas.GenerateJsonSchema
    fastapi_schemas.GenerateJsonSchema = RequiredWhenSent  # type: ignore[misc]
    try:
        yield
    finally:
        fastapi_schemas.GenerateJsonSchema = original  # type: ignore[misc]


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
    400: "The request cannot be carried out as asked, or its body cannot be read as JSON text",
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
    # An id in the path, the query or the body names something that may not exist.
    if any(dependant.path_params for dependant in dependants) or any(
        param.name.endswith("_id") for d in dependants for param in d.query_params
    ):
        codes.add(404)
    if route.body_field is not None:
        # 400: a body that is not text (FastAPI: "There was an error parsing the body").
        codes.update({400, 413, 422})
        if _names_an_id(route.body_field.field_info.annotation, set()):
            codes.add(404)
    if any(d.path_params or d.query_params or d.header_params for d in dependants):
        codes.add(422)
    codes.update(_raised_codes(route.endpoint))
    # Any write can meet a database that takes none (core.errors.StorageUnavailable).
    if (route.methods or set()) - {"GET", "HEAD", "OPTIONS"}:
        codes.add(503)
    return codes


# OAuth2's password form has one, ignored: it names no document.
_NOT_OUR_IDS = frozenset({"client_id"})


def _names_an_id(annotation: Any, seen: set[Any]) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return False
        seen.add(annotation)
        return any(
            (name.endswith(("_id", "_ids")) and name not in _NOT_OUR_IDS)
            or _names_an_id(field.annotation, seen)
            for name, field in annotation.model_fields.items()
        )
    return any(_names_an_id(argument, seen) for argument in getattr(annotation, "__args__", ()))


# Headers an error answer always carries, by status: core.errors sets them.
ERROR_HEADERS: dict[int, dict[str, dict[str, Any]]] = {
    401: {
        "WWW-Authenticate": {
            "description": "Bearer: log in again (POST /auth/login) or refresh the token",
            "schema": {"type": "string", "example": "Bearer"},
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before trying again",
            "schema": {"type": "integer", "minimum": 1, "example": 60},
        }
    },
    503: {
        "Retry-After": {
            "description": "Seconds to wait before trying again",
            "schema": {"type": "integer", "minimum": 1, "example": 30},
        }
    },
}


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


# Routes share services: each function's source is read once per process.
_source_of = functools.cache(inspect.getsource)


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
            source = _source_of(current)
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
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}


def _one_name_per_shape(spec: dict[str, Any]) -> None:
    """A model a request sends and an answer gives, with defaults the request may leave
    out, is two schemas to FastAPI (`X-Input`, `X-Output`): `X` for the request and `XOut`
    for the answer, names a client would choose."""
    schemas = spec.get("components", {}).get("schemas", {})
    renames: dict[str, str] = {}
    for name in list(schemas):
        if name.endswith("-Input"):
            renames[name] = name.removesuffix("-Input")
        elif name.endswith("-Output"):
            stem = name.removesuffix("-Output")
            renames[name] = f"{stem}Out" if f"{stem}Out" not in schemas else f"{stem}Answer"
    if not renames:
        return
    for old, new in renames.items():
        schemas[new] = schemas.pop(old)
        if "title" in schemas[new]:
            # Pydantic titles both halves with the model's name; generators name models by title.
            schemas[new]["title"] = new
    _rename_references(
        spec,
        {REF_TEMPLATE.format(model=o): REF_TEMPLATE.format(model=n) for o, n in renames.items()},
    )


def _rename_references(node: Any, renames: dict[str, str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and value in renames:
                node[key] = renames[value]
            else:
                _rename_references(value, renames)
    elif isinstance(node, list):
        for item in node:
            _rename_references(item, renames)


DocumentStep = Callable[[dict[str, Any]], None]


def tidy_openapi(app: FastAPI, *steps: DocumentStep) -> None:
    """Replace app.openapi with one that gives each operation one tag (its own, the most
    specific) and documents every error it can answer with, each with its model and
    headers; `steps` then finish the document with what the layers above know (the
    registered topics' notice shapes)."""

    check_routes(api_routes(app.router.routes))
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        with _answers_required_when_sent():
            spec = generate()
        _one_name_per_shape(spec)
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
                    if code in ERROR_HEADERS:
                        answer.setdefault("headers", {}).update(ERROR_HEADERS[code])
        for step in steps:
            step(spec)
        if "PydanticObjectId" in schemas:
            # What the server takes: any 24 hex digits, as bson.ObjectId.is_valid.
            schemas["PydanticObjectId"]["pattern"] = OBJECT_ID_PATTERN
        add_examples(spec)
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = spec = finish_contract(app, spec)
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
