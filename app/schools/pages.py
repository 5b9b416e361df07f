"""The join page the guardian-code email links to: /join?code=.

GET only shows (mail scanners open links). A parent new here registers with the address the
code was mailed to and is linked when they confirm it; one with an account signs in and, if
their address is verified, is linked at once. Both forms keep the API's rate limits, so the
page is no way around them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import TypeAdapter, ValidationError

from app.auth import sessions as auth_sessions
from app.auth import tokens as auth_tokens
from app.auth.models import Locale, normalize_email
from app.auth.schemas import MAX_EMAIL_LENGTH, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, Email
from app.core import i18n
from app.core.config import Settings, get_settings
from app.core.errors import BadRequest, Conflict, Forbidden, TooManyRequests, Unauthorized
from app.core.i18n import translate
from app.core.ratelimit import allowance, client_address, count, enforce, refuse_when_spent
from app.core.text import first_refused_character
from app.core.web import Pages, page_locale
from app.schools import joining

router = APIRouter(include_in_schema=False)
pages = Pages(Path(__file__).parent / "templates")
i18n.add_catalogue(Path(__file__).parent / "locales")

CodeQuery = Annotated[str, Query(max_length=64)]
FormCode = Annotated[str, Form(max_length=64)]
FormText = Annotated[str, Form(max_length=4096)]
AppSettings = Annotated[Settings, Depends(get_settings)]

# Looking a code up tells whose child it is: loose enough for a school sharing one address,
# hopeless for guessing one of 31**8.
JOIN_LOOKUP_RATE = "60/minute"
MAX_FULL_NAME_LENGTH = 200
_EMAIL = TypeAdapter(Email)


def _form_page(
    request: Request,
    offer: joining.JoinOffer,
    code: str,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    **values: str,
) -> HTMLResponse:
    locale = page_locale(request)
    return pages.render(
        "join.html",
        locale=locale,
        status_code=status_code,
        code=code,
        offer=offer,
        errors=errors or {},
        values={"new_locale": locale, **values},
        locales=[(value, i18n.translate(value, "language.name")) for value in i18n.LOCALES],
    )


def _problem_page(request: Request, problem: joining.CodeProblem) -> HTMLResponse:
    return pages.render(
        "join_problem.html", locale=page_locale(request), status_code=400, problem=problem.value
    )


def _too_many(request: Request) -> HTMLResponse:
    return pages.render(
        "join_problem.html", locale=page_locale(request), status_code=429, problem="too_many"
    )


async def _offer(request: Request, code: str) -> joining.JoinOffer | HTMLResponse:
    """The offer behind a code, or the page that says why there is none."""
    try:
        await enforce(request, JOIN_LOOKUP_RATE, "join:client", client_address(request))
    except TooManyRequests:
        return _too_many(request)
    try:
        return await joining.read_offer(code)
    except joining.CodeNotUsable as exc:
        return _problem_page(request, exc.problem)


@router.get("/join", response_class=HTMLResponse)
async def join_page(request: Request, code: CodeQuery = "") -> HTMLResponse:
    """Whose child a code links to, and the two ways to take it: new here, or signed in."""
    if not code.strip():
        return pages.render("join_enter.html", locale=page_locale(request))
    offer = await _offer(request, code)
    if isinstance(offer, HTMLResponse):
        return offer
    return _form_page(request, offer, code)


def _new_account_errors(
    locale: str, *, email: str | None, full_name: str, password: str, again: str, language: str
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not full_name or len(full_name) > MAX_FULL_NAME_LENGTH:
        errors["new_full_name"] = translate(locale, "join.error_name")
    elif first_refused_character(full_name) is not None:
        errors["new_full_name"] = translate(locale, "join.error_name_characters")
    if email is not None:
        try:
            _EMAIL.validate_python(email)
        except ValidationError:
            errors["new_email"] = translate(locale, "errors.email")
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["new_password"] = translate(locale, "errors.password_short", n=MIN_PASSWORD_LENGTH)
    elif len(password) > MAX_PASSWORD_LENGTH:
        errors["new_password"] = translate(locale, "errors.password_long", n=MAX_PASSWORD_LENGTH)
    elif password != again:
        errors["new_password_again"] = translate(locale, "errors.password_mismatch")
    if language not in i18n.LOCALES:
        errors["new_locale"] = translate(locale, "errors.choice")
    return errors


@router.post("/join/new", response_class=HTMLResponse)
async def join_as_new(
    request: Request,
    settings: AppSettings,
    code: FormCode = "",
    new_full_name: FormText = "",
    new_email: FormText = "",
    new_password: FormText = "",
    new_password_again: FormText = "",
    new_locale: FormText = "",
) -> HTMLResponse:
    """Register with the address the code was mailed to; linked once it is confirmed."""
    offer = await _offer(request, code)
    if isinstance(offer, HTMLResponse):
        return offer
    locale = page_locale(request)
    full_name = new_full_name.strip()
    # A code handed out on paper names no address: the parent gives theirs.
    email = offer.code.email or new_email.strip()
    values = {"new_full_name": full_name, "new_email": email[:MAX_EMAIL_LENGTH]}
    errors = _new_account_errors(
        locale,
        email=None if offer.code.email else email,
        full_name=full_name,
        password=new_password,
        again=new_password_again,
        language=new_locale,
    )
    if errors:
        values["new_locale"] = new_locale
        return _form_page(request, offer, code, status_code=422, errors=errors, **values)
    try:
        # The API's registration limits: per client, and per address.
        client = client_address(request)
        await enforce(request, settings.register_rate_per_client, "register:client", client)
        await enforce(
            request, settings.register_rate_per_email, "register:email", normalize_email(email)
        )
        parent = await joining.join_as_new(
            settings=settings,
            offer=offer,
            email=email,
            full_name=full_name,
            password=new_password,
            locale=Locale(new_locale),
        )
    except TooManyRequests:
        errors = {"new_form": translate(locale, "errors.too_many")}
        return _form_page(request, offer, code, status_code=429, errors=errors, **values)
    except Conflict:
        errors = {"existing_email": translate(locale, "join.error_has_account")}
        values["existing_email"] = email
        return _form_page(request, offer, code, status_code=409, errors=errors, **values)
    except joining.CodeNotUsable as exc:
        return _problem_page(request, exc.problem)
    return pages.render(
        "join_confirm.html",
        locale=parent.locale.value,
        status_code=202,
        email=parent.email,
        child=offer.child_first_name,
    )


@router.post("/join/existing", response_class=HTMLResponse)
async def join_as_existing(
    request: Request,
    settings: AppSettings,
    code: FormCode = "",
    existing_email: FormText = "",
    existing_password: FormText = "",
) -> HTMLResponse:
    """Sign in with an existing parent account: linked at once when its address is verified."""
    offer = await _offer(request, code)
    if isinstance(offer, HTMLResponse):
        return offer
    locale = page_locale(request)
    email = existing_email.strip()
    values = {"existing_email": email[:MAX_EMAIL_LENGTH]}
    client = client_address(request)
    failures = auth_tokens.request_key(email, client)
    try:
        # The API's login limits: loose per client, tight on failures per account and client.
        await enforce(request, settings.login_rate_per_client, "login:client", client)
        await refuse_when_spent(
            request, settings.login_rate_per_account, "login:failures", failures
        )
    except TooManyRequests:
        errors = {"existing_form": translate(locale, "errors.too_many")}
        return _form_page(request, offer, code, status_code=429, errors=errors, **values)
    try:
        parent = await auth_sessions.authenticate(email=email, password=existing_password)
    except Unauthorized:
        await count(request, settings.login_rate_per_account, "login:failures", failures)
        errors = {"existing_password": translate(locale, "join.error_credentials")}
        return _form_page(request, offer, code, status_code=401, errors=errors, **values)
    allowed = allowance(request, auth_tokens.ACCOUNT_MAILS_PER_ACCOUNT, "account-mails")
    try:
        outcome = await joining.join_as_existing(
            settings=settings, offer=offer, parent=parent, allowed=allowed
        )
    except Forbidden:
        errors = {"existing_email": translate(locale, "join.error_not_parent")}
        return _form_page(request, offer, code, status_code=403, errors=errors, **values)
    except joining.CodeNotUsable as exc:
        return _problem_page(request, exc.problem)
    except BadRequest:
        return _problem_page(request, joining.CodeProblem.withdrawn)
    # What follows is the account's own news: in its language.
    locale = page_locale(request, parent.locale.value)
    if outcome == joining.JoinOutcome.confirm_first:
        return pages.render(
            "join_confirm.html",
            locale=locale,
            status_code=202,
            email=parent.email,
            child=offer.child_first_name,
        )
    return pages.render(
        "join_done.html",
        locale=locale,
        child=offer.child_first_name,
        school=offer.school_name,
    )
