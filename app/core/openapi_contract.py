"""The names a team generating a client from /openapi.json builds its code on.

Operation ids are declared on each route's decorator (`operation_id="createGrade"`), beside
the route, so a producer names its own operations in its own package and a renamed function
renames nothing; `check_routes` refuses to build an app with a route that has none, one that
is not lower camel case, one used twice, or a tag without a description here. Schema names
FastAPI and Pydantic derive (`Page_NotificationOut_`, `Body_login`) are renamed to what a
client would call them (`NotificationPage`, `LoginForm`), and the document gets its global
tag list, its server and whom to ask.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

LOWER_CAMEL_CASE = re.compile(r"[a-z][a-zA-Z0-9]*")
CLIENT_SCHEMA_NAME = re.compile(r"[A-Z][A-Za-z0-9]*")
_REFERENCE = "#/components/schemas/"

# Each tag a route uses, in the order a reader meets them in the document.
TAGS: dict[str, str] = {
    "auth": (
        "Registering, logging in, refreshing and ending sessions, email confirmation and "
        "password resets."
    ),
    "users": "One's own account, and the accounts a school admin manages.",
    "schools": "Schools, their classes, rosters and teachers, and importing people from a file.",
    "guardians": (
        "Parents and their children: guardian codes, the children a parent follows, a child's "
        "guardians and a parent's alerts about a child's grades."
    ),
    "subjects": "The subjects a school teaches.",
    "grades": "Posting and correcting grades, a class's gradebook, a student's grades, summaries.",
    "announcements": "Announcements to a school, classes or roles: figures, acknowledgements.",
    "events": "School events and the answers (RSVPs) to them.",
    "calendar": "A personal calendar feed (iCalendar) of one's events and lessons.",
    "timetable": "A class's week of lessons and its changes; the week a student or teacher reads.",
    "homework": "Homework set for a class, and a student's list of it.",
    "attendance": "A class's register for a day, a student's attendance and absence notes.",
    "messages": "Conversations between parents, teachers, students and admins.",
    "notifications": "The in-app inbox: notifications, unread counts, marking them read.",
    "preferences": "How each topic reaches a person: email frequency, in-app, quiet hours, digest.",
    "subscriptions": "What a person follows beyond what their role gives them.",
    "unsubscribe": "The one-click unsubscribe link of every notification email.",
    "delivery": "The emails the service sent, failed to send or holds, and retrying them.",
    "figures": "Counts across a school for its admins.",
    "operations": "Liveness and readiness probes for the people running the service.",
}


class ContractError(RuntimeError):
    """The app's routes or schemas would give client generators names they cannot keep."""


def check_routes(routes: Iterable[APIRoute]) -> None:
    """Refuse, naming each, routes without a stable lower camel case id or a described tag."""
    problems: list[str] = []
    owners: dict[str, str] = {}
    for route in routes:
        where = f"{'/'.join(sorted(route.methods or ()))} {route.path}"
        identifier = route.operation_id
        if not identifier:
            problems.append(f"{where} has no operation_id")
        elif not LOWER_CAMEL_CASE.fullmatch(identifier):
            problems.append(f"{where}: operation_id {identifier!r} is not lower camel case")
        elif identifier in owners:
            problems.append(f"{where}: operation_id {identifier!r} is {owners[identifier]}'s too")
        else:
            owners[identifier] = where
        # The route's own tag is the one the document keeps (see tidy_openapi).
        tag = route.tags[-1] if route.tags else None
        if tag not in TAGS:
            problems.append(f"{where}: tag {tag!r} has no description in openapi_contract.TAGS")
    if problems:
        raise ContractError("; ".join(problems))


def client_schema_name(name: str) -> str:
    """What a client would call a schema FastAPI or Pydantic named mechanically."""
    if page := re.fullmatch(r"Page_(\w+?)(?:Out)?_", name):
        return f"{page[1]}Page"
    if body := re.fullmatch(r"Body_(\w+)", name):
        operation = body[1]
        return f"{operation[:1].upper()}{operation[1:]}Form"
    return name


def _rename_references(node: Any, renamed: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                _REFERENCE
                + renamed.get(value.removeprefix(_REFERENCE), value.removeprefix(_REFERENCE))
                if key == "$ref" and isinstance(value, str) and value.startswith(_REFERENCE)
                else _rename_references(value, renamed)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rename_references(item, renamed) for item in node]
    return node


def _client_schema_names(spec: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = spec.get("components", {}).get("schemas", {})
    renamed = {name: client_schema_name(name) for name in schemas}
    renamed = {old: new for old, new in renamed.items() if old != new}
    clashes = sorted(new for new in renamed.values() if new in schemas)
    unfit = sorted(
        name for name in set(schemas) - set(renamed) if not CLIENT_SCHEMA_NAME.fullmatch(name)
    )
    if clashes or unfit:
        raise ContractError(f"schema names taken: {clashes}; names no client would use: {unfit}")
    spec = _rename_references(spec, renamed)
    spec["components"]["schemas"] = {
        renamed.get(name, name): ({**schema, "title": renamed[name]} if name in renamed else schema)
        for name, schema in spec["components"]["schemas"].items()
    }
    return spec


def finish_contract(app: FastAPI, spec: dict[str, Any]) -> dict[str, Any]:
    """The document with client names for its schemas, its tags described, its server and
    whom to ask."""
    spec = _client_schema_names(spec)
    used = {
        tag
        for operations in spec["paths"].values()
        for op in operations.values()
        for tag in op.get("tags", [])
    }
    spec["tags"] = [
        {"name": name, "description": text} for name, text in TAGS.items() if name in used
    ]
    base_url = str(app.state.settings.public_base_url).rstrip("/")
    spec["servers"] = [{"url": base_url, "description": "This deployment (its PUBLIC_BASE_URL)"}]
    spec["info"]["contact"] = {"name": "Schoolbell", "url": f"{base_url}/"}
    spec["info"]["license"] = {"name": "Proprietary", "url": f"{base_url}/"}
    return spec
