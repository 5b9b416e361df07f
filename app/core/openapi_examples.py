"""Examples in the OpenAPI document, made from the schemas' own field examples and defaults.

A client team reads one whole request body and one answer per operation; a generator or
Swagger builds bodies the same way, field by field. Both come from the same place, so a field
whose placeholder the server would refuse ("string" for a time zone, 0 for a weight) needs an
example of its own; tests/test_openapi_examples.py sends what is built here.
"""

from __future__ import annotations

from typing import Any

REF_PREFIX = "#/components/schemas/"
# Deep enough for the nested bodies there are; a cycle ends in an empty object.
MAX_DEPTH = 24

_BY_FORMAT = {
    "date": "2026-09-01",
    "date-time": "2026-09-01T08:30:00Z",
    "time": "08:30:00",
    "email": "parent@example.org",
    "uri": "https://school.example.org/",
    "binary": "",
}


def example_of(schema: dict[str, Any], schemas: dict[str, Any], depth: int = 0) -> Any:
    """A value that fits `schema`: its own example or default where it has one, else one
    made from its type, as a client generator would make it."""
    if "$ref" in schema:
        own = {key: value for key, value in schema.items() if key != "$ref"}
        named = schemas[schema["$ref"].removeprefix(REF_PREFIX)]
        picked = _declared(own)
        if picked is not _NONE:
            return picked
        return example_of(named, schemas, depth + 1) if depth < MAX_DEPTH else {}
    picked = _declared(schema)
    if picked is not _NONE:
        return picked
    for key in ("oneOf", "anyOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return example_of(options[0], schemas, depth + 1)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = example_of(part, schemas, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth >= MAX_DEPTH:
            return {}
        return {
            name: example_of(field, schemas, depth + 1)
            for name, field in schema.get("properties", {}).items()
        }
    if kind == "array":
        item = example_of(schema.get("items", {}), schemas, depth + 1)
        return [item] * max(1, schema.get("minItems", 1))
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        return low if kind == "number" else int(low)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _BY_FORMAT.get(schema.get("format", ""), "string")


class _Missing:
    pass


_NONE: Any = _Missing()


def _declared(schema: dict[str, Any]) -> Any:
    if "example" in schema:
        return schema["example"]
    if schema.get("examples"):
        return schema["examples"][0]
    if "const" in schema:
        return schema["const"]
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    return _NONE


def add_examples(spec: dict[str, Any]) -> None:
    """One example per request body and per JSON answer that has none of its own."""
    schemas = spec.get("components", {}).get("schemas", {})
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            contents = [operation.get("requestBody", {}).get("content", {})]
            contents += [answer.get("content", {}) for answer in operation["responses"].values()]
            for content in contents:
                for media_type, body in content.items():
                    if (
                        media_type == "multipart/form-data"
                        or "schema" not in body
                        or body["schema"].get("format") == "binary"  # a file
                    ):
                        continue
                    if "example" not in body and "examples" not in body:
                        body["example"] = example_of(body["schema"], schemas)
