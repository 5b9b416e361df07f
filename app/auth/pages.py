"""Pages for account mail: confirming an email address, choosing a new password, and
choosing the first one from an invitation.

GET only shows (mail scanners open links); every change is a POST carrying the token. A link
that is expired, used or unknown gets a page that says so with a form to mail a new one,
answered the same way whether or not the address has an account.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse

from app.auth import tokens
from app.auth.models import AccountTokenPurpose, User
from app.auth.schemas import MAX_EMAIL_LENGTH, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from app.core.config import Settings, get_settings
from app.core.errors import BadRequest, Conflict, TooManyRequests
from app.core.i18n import translate
from app.core.ratelimit import allowance, client_address, enforce
from app.core.web import Pages, page_locale

router = APIRouter(include_in_schema=False)
pages = Pages(Path(__file__).parent / "templates")

PageToken = Annotated[str, Query(max_length=4096)]
FormToken = Annotated[str, Form(max_length=4096)]
FormText = Annotated[str, Form(max_length=4096)]
AppSettings = Annotated[Settings, Depends(get_settings)]

VERIFY = "verify"
RESET = "reset"
INVITE = "invite"


def _locale(request: Request, user: User | None) -> str:
    return page_locale(request, user.locale.value if user else None)


def _link_problem(
    request: Request, flow: str, *, status_code: int = 400, **context: object
) -> HTMLResponse:
    """The page of a link that no longer works, with a form to mail a new one."""
    context.setdefault("email", "")
    context.setdefault("problem_body", None)
    return pages.render(
        "link_problem.html",
        locale=page_locale(request),
        status_code=status_code,
        flow=flow,
        **context,
    )


async def _new_link(request: Request, *, settings: Settings, flow: str, email: str) -> HTMLResponse:
    locale = page_locale(request)
    email = email.strip()
    if not email or "@" not in email or len(email) > MAX_EMAIL_LENGTH:
        errors = {"email": translate(locale, "errors.email")}
        return _link_problem(request, flow, errors=errors, email=email[:MAX_EMAIL_LENGTH])
    try:
        # The API's password-reset limits, so a page is no way around them: per client,
        # and per account and client together, so strangers never use up the owner's.
        client = client_address(request)
        await enforce(request, settings.password_reset_rate_per_client, f"{flow}:client", client)
        pair = tokens.request_key(email, client)
        await enforce(request, settings.password_reset_rate, f"{flow}:pair", pair)
    except TooManyRequests:
        errors = {"email": translate(locale, "errors.too_many")}
        return _link_problem(request, flow, errors=errors, email=email)
    allowed = allowance(request, tokens.ACCOUNT_MAILS_PER_ACCOUNT, "account-mails")
    if flow == VERIFY:
        await tokens.resend_verification(settings=settings, email=email, allowed=allowed)
    else:
        await tokens.request_password_reset(settings=settings, email=email, allowed=allowed)
    return pages.render("link_sent.html", locale=locale, flow=flow, status_code=202)


@router.get("/verify-email", response_class=HTMLResponse)
async def verify_email_page(request: Request, token: PageToken = "") -> HTMLResponse:
    """A "Confirm my email" button; opening the link confirms nothing by itself."""
    user = await tokens.confirmation_holder(token=token)
    if user is None:
        return _link_problem(request, VERIFY)
    return pages.render("verify_email.html", locale=_locale(request, user), token=token)


@router.post("/verify-email", response_class=HTMLResponse)
async def verify_email(request: Request, token: FormToken = "") -> HTMLResponse:
    """Confirm the address the link was mailed to."""
    user = await tokens.confirmation_holder(token=token)
    try:
        await tokens.verify_email(token=token)
    except BadRequest:
        return _link_problem(request, VERIFY)
    except Conflict:
        # A new address that became another account's login before this link was used.
        return _link_problem(request, VERIFY, status_code=409, problem_body="verify.taken_body")
    return pages.render("email_verified.html", locale=_locale(request, user))


@router.post("/verify-email/new-link", response_class=HTMLResponse)
async def new_verification_link(
    request: Request, settings: AppSettings, email: FormText = ""
) -> HTMLResponse:
    """Mail a new confirmation link if an unconfirmed account has this address."""
    return await _new_link(request, settings=settings, flow=VERIFY, email=email)


@router.get("/reset-password", response_class=HTMLResponse)
async def reset_password_page(request: Request, token: PageToken = "") -> HTMLResponse:
    """The new-password form, or why the link no longer works."""
    user = await tokens.account_token_holder(
        token=token, purpose=AccountTokenPurpose.password_reset
    )
    if user is None:
        return _link_problem(request, RESET)
    return pages.render("reset_password.html", locale=_locale(request, user), token=token)


def _password_errors(locale: str, password: str, again: str) -> dict[str, str]:
    if len(password) < MIN_PASSWORD_LENGTH:
        return {"new_password": translate(locale, "errors.password_short", n=MIN_PASSWORD_LENGTH)}
    if len(password) > MAX_PASSWORD_LENGTH:
        return {"new_password": translate(locale, "errors.password_long", n=MAX_PASSWORD_LENGTH)}
    if password != again:
        return {"new_password_again": translate(locale, "errors.password_mismatch")}
    return {}


@router.post("/reset-password", response_class=HTMLResponse)
async def reset_password(
    request: Request,
    token: FormToken = "",
    new_password: FormText = "",
    new_password_again: FormText = "",
) -> HTMLResponse:
    """Set the new password and end every session of the account."""
    user = await tokens.account_token_holder(
        token=token, purpose=AccountTokenPurpose.password_reset
    )
    if user is None:
        return _link_problem(request, RESET)
    locale = _locale(request, user)
    errors = _password_errors(locale, new_password, new_password_again)
    if errors:
        # The token is not spent: the same form again, still good.
        return pages.render(
            "reset_password.html", locale=locale, token=token, errors=errors, status_code=422
        )
    try:
        await tokens.reset_password(token=token, new_password=new_password)
    except BadRequest:
        return _link_problem(request, RESET)
    return pages.render("password_changed.html", locale=locale)


@router.post("/reset-password/new-link", response_class=HTMLResponse)
async def new_reset_link(
    request: Request, settings: AppSettings, email: FormText = ""
) -> HTMLResponse:
    """Mail a new reset link if an account has this address; the answer is the same."""
    return await _new_link(request, settings=settings, flow=RESET, email=email)


@router.get("/set-password", response_class=HTMLResponse)
async def set_password_page(request: Request, token: PageToken = "") -> HTMLResponse:
    """The invited person's password form, or why the link no longer works."""
    user = await tokens.account_token_holder(token=token, purpose=AccountTokenPurpose.invite)
    if user is None:
        # A reset link sets a password too: the way on when an invitation has run out.
        return _link_problem(request, RESET, problem_body="invite.problem_body")
    return pages.render(
        "set_password.html", locale=_locale(request, user), token=token, email=user.email
    )


@router.post("/set-password", response_class=HTMLResponse)
async def set_password(
    request: Request,
    token: FormToken = "",
    new_password: FormText = "",
    new_password_again: FormText = "",
) -> HTMLResponse:
    """Set the first password; the address the invitation went to is then verified."""
    user = await tokens.account_token_holder(token=token, purpose=AccountTokenPurpose.invite)
    if user is None:
        return _link_problem(request, RESET, problem_body="invite.problem_body")
    locale = _locale(request, user)
    errors = _password_errors(locale, new_password, new_password_again)
    if errors:
        # The token is not spent: the same form again, still good.
        return pages.render(
            "set_password.html",
            locale=locale,
            token=token,
            email=user.email,
            errors=errors,
            status_code=422,
        )
    try:
        await tokens.accept_invitation(token=token, new_password=new_password)
    except BadRequest:
        return _link_problem(request, RESET, problem_body="invite.problem_body")
    return pages.render("password_set.html", locale=locale)
