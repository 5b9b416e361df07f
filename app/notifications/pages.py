"""The preference centre and the unsubscribe page, for people arriving from an email.

Both open from signed links (see app.notifications.links): GET shows, POST changes. The
one-click endpoint of RFC 8058 is the POST of the unsubscribe page, so a mail client and a
person pressing the button do the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from app.auth import service as auth_service
from app.auth.models import Locale, User
from app.auth.schemas import MeUpdateIn
from app.core.config import Settings, get_settings
from app.core.errors import TooManyRequests
from app.core.i18n import LOCALES, translate, weekday_name
from app.core.page_tokens import InvalidPageToken
from app.core.ratelimit import enforce
from app.core.security import utcnow
from app.core.timezones import known_timezones
from app.core.web import Pages, page_locale
from app.delivery import service as delivery
from app.delivery.models import EmailKind
from app.delivery.render import render as render_email
from app.notifications import service
from app.notifications.links import (
    LinkHolder,
    preferences_url,
    read_preferences_token,
    read_unsubscribe_token,
)
from app.notifications.preferences import Preferences
from app.notifications.topics import EmailFrequency, Priority, topics

router = APIRouter(include_in_schema=False)
# The same endpoint under /api/v1, where links mailed before the pages existed point.
# Left out of the document: it answers HTML pages, as the ones at the site root do.
api_router = APIRouter(tags=["unsubscribe"], include_in_schema=False)
pages = Pages(Path(__file__).parent / "templates")

PageToken = Annotated[str, Query(description="From the email's link")]
AppSettings = Annotated[Settings, Depends(get_settings)]

ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"
# A fresh preference-centre link may be mailed once in this many requests an hour.
NEW_LINK_RATE = "3/hour"


def _problem(request: Request, key: str, *, status_code: int = 400, **context: Any) -> HTMLResponse:
    return pages.render(
        "link_problem.html",
        locale=page_locale(request, context.pop("user_locale", None)),
        status_code=status_code,
        problem=key,
        token=context.pop("token", ""),
    )


async def _live_user(holder: LinkHolder) -> User | None:
    return await auth_service.get_live_user(holder.user_id)


@dataclass(frozen=True)
class LinkVisit:
    """Either the live person a valid link was signed for, or the page saying why not."""

    holder: LinkHolder | None = None
    user: User | None = None
    problem: HTMLResponse | None = None


async def _visit(request: Request, token: str, read: Callable[[str], LinkHolder]) -> LinkVisit:
    try:
        holder = read(token)
    except InvalidPageToken:
        return LinkVisit(problem=_problem(request, "invalid"))
    user = await _live_user(holder)
    if user is None or user.id is None:
        return LinkVisit(problem=_problem(request, "gone", status_code=404))
    # A link mailed to an address the account has since left is as good as expired: the
    # page offers a new one, mailed to the address the account has now.
    if holder.expired or holder.outlived(user.links_valid_after):
        expired = _problem(request, "expired", user_locale=user.locale.value, token=token)
        return LinkVisit(problem=expired)
    return LinkVisit(holder=holder, user=user)


def _topic_names(locale: str, holder: LinkHolder) -> list[str]:
    return [translate(locale, f"topics.{topic}.email") for topic in holder.topics]


# --- unsubscribe -----------------------------------------------------------------------


def _read_unsubscribe(settings: Settings) -> Callable[[str], LinkHolder]:
    return lambda token: read_unsubscribe_token(settings=settings, token=token)


def _read_preferences(settings: Settings) -> Callable[[str], LinkHolder]:
    return lambda token: read_preferences_token(settings=settings, token=token)


async def _unsubscribe_page(request: Request, settings: Settings, token: str) -> HTMLResponse:
    visit = await _visit(request, token, _read_unsubscribe(settings))
    if visit.problem is not None:
        return visit.problem
    assert visit.holder is not None and visit.user is not None
    locale = page_locale(request, visit.user.locale.value)
    return pages.render(
        "unsubscribe.html",
        locale=locale,
        token=token,
        topics=_topic_names(locale, visit.holder),
        preferences_link=preferences_url(settings=settings, user_id=visit.holder.user_id),
        field=ONE_CLICK_FIELD,
        value=ONE_CLICK_VALUE,
    )


async def _one_click(request: Request, settings: Settings, token: str) -> HTMLResponse:
    visit = await _visit(request, token, _read_unsubscribe(settings))
    if visit.problem is not None:
        return visit.problem
    holder, user = visit.holder, visit.user
    assert holder is not None and user is not None
    try:
        form: FormData | None = await request.form()
    except Exception:  # noqa: BLE001 (a body Starlette cannot parse is just not one-click)
        form = None
    if form is None or form.get(ONE_CLICK_FIELD) != ONE_CLICK_VALUE:
        return _problem(request, "not_one_click", user_locale=user.locale.value)
    await service.turn_email_off(user_id=holder.user_id, topics=holder.topics)
    locale = page_locale(request, user.locale.value)
    return pages.render(
        "unsubscribed.html",
        locale=locale,
        topics=_topic_names(locale, holder),
        preferences_link=preferences_url(settings=settings, user_id=holder.user_id),
    )


@router.get("/unsubscribe", response_class=HTMLResponse)
@api_router.get("/unsubscribe", operation_id="getUnsubscribePage", response_class=HTMLResponse)
async def unsubscribe_page(
    request: Request, settings: AppSettings, token: PageToken = ""
) -> HTMLResponse:
    """What would stop, a button that stops it, and the way to the preference centre;
    changes nothing by itself."""
    return await _unsubscribe_page(request, settings, token)


@router.post("/unsubscribe", response_class=HTMLResponse)
@api_router.post("/unsubscribe", operation_id="unsubscribe", response_class=HTMLResponse)
async def unsubscribe(
    request: Request, settings: AppSettings, token: PageToken = ""
) -> HTMLResponse:
    """RFC 8058 one-click: with the body `List-Unsubscribe=One-Click`, turn that email off."""
    return await _one_click(request, settings, token)


# --- preference centre -----------------------------------------------------------------


def _form_values(user: User, preferences: Preferences) -> dict[str, Any]:
    """The preferences as the form's fields hold them."""
    quiet = preferences.quiet_hours
    values: dict[str, Any] = {
        "digest_hour": preferences.digest_hour,
        "digest_weekday": preferences.digest_weekday,
        "quiet_enabled": quiet is not None,
        "quiet_start": quiet.start if quiet else "22:00",
        "quiet_end": quiet.end if quiet else "07:00",
        "min_priority": preferences.min_priority.value,
        "locale": user.locale.value,
        "timezone": user.timezone,
        **preferences.options,
    }
    for topic in topics.names():
        values[f"email_{topic}"] = preferences.email_for(topic).value
        values[f"in_app_{topic}"] = preferences.in_app_for(topic)
    return values


def _choices(locale: str) -> dict[str, list[tuple[str, str]]]:
    return {
        "frequency": [(f.value, translate(locale, f"frequency.{f.value}")) for f in EmailFrequency],
        "priority": [(p.value, translate(locale, f"priority.{p.value}")) for p in Priority],
        "hour": [(str(hour), f"{hour:02d}:00") for hour in range(24)],
        "weekday": [(str(day), weekday_name(day, locale)) for day in range(1, 8)],
        "language": [(code, translate(code, "language.name")) for code in LOCALES],
    }


def _preferences_page(
    *,
    locale: str,
    token: str,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    saved: bool = False,
) -> HTMLResponse:
    return pages.render(
        "preferences.html",
        locale=locale,
        status_code=422 if errors else 200,
        token=token,
        values=values,
        errors=errors or {},
        saved=saved,
        topics=topics.names(),
        hints={topic.name: topic.hints for topic in topics.all()},
        options=[(option.name, option.label) for option in topics.options()],
        choices=_choices(locale),
    )


def _submitted(form: FormData) -> dict[str, Any]:
    """The fields as sent; an unticked checkbox is simply absent."""
    values: dict[str, Any] = {
        name: str(form.get(name, "")).strip()[:100]
        for name in (
            "digest_hour",
            "digest_weekday",
            "quiet_start",
            "quiet_end",
            "min_priority",
            "locale",
            "timezone",
        )
    }
    for name in ("quiet_enabled", *(option.name for option in topics.options())):
        values[name] = form.get(name) == "on"
    for topic in topics.names():
        values[f"email_{topic}"] = str(form.get(f"email_{topic}", ""))[:100]
        values[f"in_app_{topic}"] = form.get(f"in_app_{topic}") == "on"
    return values


# Where each part of the preferences document is shown in the form.
_FIELD_OF_LOCATION = {
    ("quiet_hours",): "quiet_end",
    ("quiet_hours", "start"): "quiet_start",
    ("quiet_hours", "end"): "quiet_end",
}


def _validated(locale: str, values: dict[str, Any]) -> tuple[Preferences | None, dict[str, str]]:
    """The preferences the form asks for, checked by the same model as the API."""
    document: dict[str, Any] = {
        "email": {t: values[f"email_{t}"] for t in topics.names()},
        "in_app": {t: values[f"in_app_{t}"] for t in topics.names()},
        "digest_hour": values["digest_hour"],
        "digest_weekday": values["digest_weekday"],
        "quiet_hours": (
            {"start": values["quiet_start"], "end": values["quiet_end"]}
            if values["quiet_enabled"]
            else None
        ),
        "min_priority": values["min_priority"],
        **{option.name: values[option.name] for option in topics.options()},
    }
    errors: dict[str, str] = {}
    preferences = None
    try:
        preferences = Preferences.model_validate(document)
    except ValidationError as exc:
        for error in exc.errors():
            location = tuple(str(part) for part in error["loc"])
            name = _FIELD_OF_LOCATION.get(location, "_".join(location))
            if location == ("quiet_hours",):
                message = translate(locale, "errors.quiet_same")
            elif location[0] == "quiet_hours":
                message = translate(locale, "errors.clock")
            else:
                message = translate(locale, "errors.choice")
            errors.setdefault(name, message)
    if values["locale"] not in LOCALES:
        errors["locale"] = translate(locale, "errors.choice")
    if values["timezone"] not in known_timezones():
        errors["timezone"] = translate(locale, "errors.timezone")
    return (None if errors else preferences), errors


@router.get("/preferences", response_class=HTMLResponse)
async def preferences_page(
    request: Request, settings: AppSettings, token: PageToken = ""
) -> HTMLResponse:
    """Every notification preference, with language and time zone, in one form."""
    visit = await _visit(request, token, _read_preferences(settings))
    if visit.problem is not None:
        return visit.problem
    user = visit.user
    assert user is not None
    values = _form_values(user, await service.preferences_of(user))
    return _preferences_page(locale=user.locale.value, token=token, values=values)


@router.post("/preferences", response_class=HTMLResponse)
async def save_preferences(request: Request, settings: AppSettings) -> HTMLResponse:
    """Save the whole form; what is wrong is said next to its field and nothing is saved."""
    form = await request.form()
    token = str(form.get("token", ""))
    visit = await _visit(request, token, _read_preferences(settings))
    if visit.problem is not None:
        return visit.problem
    user = visit.user
    assert user is not None
    values = _submitted(form)
    preferences, errors = _validated(user.locale.value, values)
    if preferences is None:
        return _preferences_page(
            locale=user.locale.value, token=token, values=values, errors=errors
        )
    user = await auth_service.update_me(
        settings=settings,
        user=user,
        changes=MeUpdateIn(locale=Locale(values["locale"]), timezone=values["timezone"]),
    )
    await service.replace_preferences(user=user, preferences=preferences)
    return _preferences_page(
        locale=user.locale.value, token=token, values=_form_values(user, preferences), saved=True
    )


@router.post("/preferences/new-link", response_class=HTMLResponse)
async def new_preferences_link(request: Request, settings: AppSettings) -> HTMLResponse:
    """Mail a fresh preference-centre link to the person an expired link was signed for."""
    form = await request.form()
    token = str(form.get("token", ""))
    holder = None
    for read in (read_preferences_token, read_unsubscribe_token):
        try:
            holder = read(settings=settings, token=token)
            break
        except InvalidPageToken:
            continue
    if holder is None:
        return _problem(request, "invalid")
    user = await _live_user(holder)
    if user is None or user.id is None:
        return _problem(request, "gone", status_code=404)
    locale = page_locale(request, user.locale.value)
    try:
        await enforce(request, NEW_LINK_RATE, "preferences-link", str(user.id))
    except TooManyRequests:
        return _problem(request, "too_many", status_code=429, user_locale=user.locale.value)
    link = preferences_url(settings=settings, user_id=user.id)
    # Mailed only to the account's own address: the old link proves nothing more than that.
    # Until that address is verified anyone could have typed it in, so, as every account
    # mail, it does not repeat the name: a stranger's text never reaches that inbox.
    await delivery.queue_email(
        delivery.new_email(
            key=f"account:preferences_link:{user.id}:{int(utcnow().timestamp())}",
            kind=EmailKind.account,
            to=user.email,
            rendered=render_email(
                "preferences_link",
                locale,
                full_name=user.full_name if user.email_verified else None,
                link=link,
                unsubscribe_url=None,
            ),
            recipient_id=user.id,
        )
    )
    return pages.render("link_sent.html", locale=locale, status_code=202)
