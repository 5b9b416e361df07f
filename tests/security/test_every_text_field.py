"""Every text field of every request body refuses control and direction characters.

Issue 18 closed finding 8 for the fields it named; producers built since (events, the
timetable, homework, attendance, messages, the import) take text of their own. Rather than
list them, this walks every JSON body the app accepts, down through nested models and
lists, and puts an escape sequence into each field that takes a string: a field that takes
it without an error is a field whose text reaches an email or a page unchecked.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ValidationError

from app.core.config import Settings
from app.core.openapi import api_routes
from app.main import create_app

HOSTILE = "Exam\x1b[2Jmoved"

# Text that is compared or hashed and never stored as written, shown or mailed: secrets,
# one-time tokens and codes, ids that are looked up, and an address that is only matched.
# The login form (OAuth2's password grant) only checks what it is given.
NEVER_SHOWN_BODIES = {"POST /auth/login"}
NEVER_SHOWN = {
    "RegisterIn.password",
    "TokenIn.token",
    "RefreshIn.refresh_token",
    "PasswordResetRequestIn.email",
    "PasswordResetConfirmIn.token",
    "PasswordResetConfirmIn.new_password",
    "MeUpdateIn.current_password",
    "MeUpdateIn.new_password",
    "UserCreateIn.password",
    "UserCreateIn.school_id",
    "GuardianCodeRedeem.code",
    "SubscriptionIn.target_id",
}


def _body_models(settings: Settings) -> Iterator[tuple[str, type[BaseModel]]]:
    app = create_app(settings)
    for route in api_routes(app.router.routes):
        if route.body_field is None:
            continue
        annotation = route.body_field.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield f"{sorted(route.methods or ())[0]} {route.path}", annotation


def _members(annotation: Any) -> Iterator[Any]:
    """The types a field may hold: through Optional, unions, lists and Annotated."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _members(typing.get_args(annotation)[0])
    elif origin in (typing.Union, types.UnionType, list, set, frozenset, tuple):
        for argument in typing.get_args(annotation):
            yield from _members(argument)
    else:
        yield annotation


def _text_fields(
    model: type[BaseModel], seen: set[type[BaseModel]]
) -> Iterator[tuple[type[BaseModel], str, bool]]:
    """(model, field, holds a list) for every field that takes free text."""
    if model in seen:
        return
    seen.add(model)
    for name, field in model.model_fields.items():
        annotation = field.annotation
        in_list = typing.get_origin(annotation) in (list, set, frozenset, tuple) or any(
            typing.get_origin(member) in (list, set, frozenset, tuple)
            for member in typing.get_args(annotation)
        )
        for member in _members(annotation):
            if member is str:
                yield model, field.alias or name, in_list
            elif isinstance(member, type) and issubclass(member, BaseModel):
                yield from _text_fields(member, seen)


def _all_text_fields(settings: Settings) -> list[tuple[str, type[BaseModel], str, bool]]:
    found: dict[tuple[type[BaseModel], str], tuple[str, type[BaseModel], str, bool]] = {}
    for operation, model in _body_models(settings):
        for owner, field, in_list in _text_fields(model, set()):
            found.setdefault((owner, field), (operation, owner, field, in_list))
    return list(found.values())


def test_the_sweep_finds_the_text_fields_of_every_producer(settings: Settings) -> None:
    # A sweep that found nothing would pass whatever the app accepts.
    owners = {owner.__module__.split(".")[1] for _, owner, _, _ in _all_text_fields(settings)}
    assert {"announcements", "events", "grades", "homework", "messages", "schools"} <= owners


def test_every_text_field_refuses_control_characters(settings: Settings) -> None:
    accepted: list[str] = []
    for operation, owner, field, in_list in _all_text_fields(settings):
        if operation in NEVER_SHOWN_BODIES or f"{owner.__name__}.{field}" in NEVER_SHOWN:
            continue
        value: Any = [HOSTILE] if in_list else HOSTILE
        try:
            owner.model_validate({field: value})
        except ValidationError as error:
            if any(issue["loc"][:1] == (field,) for issue in error.errors()):
                continue
        accepted.append(f"{operation}: {owner.__name__}.{field}")
    assert accepted == [], "these fields take an escape sequence:\n" + "\n".join(accepted)
