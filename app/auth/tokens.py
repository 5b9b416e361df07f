"""Mailed single-use tokens: verifying an address, resetting a password.

Each is bound to the address it was mailed to and proves only that mailbox.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from beanie import PydanticObjectId

from app.auth import hooks, repository, sessions, user_cache
from app.auth.models import (
    AccountToken,
    AccountTokenPurpose,
    User,
    normalize_email,
)
from app.auth.schemas import MAX_EMAIL_LENGTH, MAX_TOKEN_LENGTH
from app.core.config import Settings
from app.core.db import DuplicateKeyError
from app.core.errors import BadRequest, Conflict
from app.core.i18n import translate
from app.core.ratelimit import Allowance
from app.core.security import (
    hash_password_async,
    hash_token,
    new_opaque_token,
    utcnow,
)
from app.core.web import public_url
from app.delivery import service as delivery
from app.delivery.models import EmailKind
from app.delivery.render import render

log = logging.getLogger(__name__)

VERIFY_EMAIL_TTL = timedelta(days=7)
PASSWORD_RESET_TTL = timedelta(minutes=30)
INVITE_TTL = timedelta(days=14)
# Links one account is mailed on request, whoever asks: the mailbox is spared a flood, and
# with a window shorter than a reset link's life the newest link mailed is still good when
# a request is turned down, so strangers' requests never keep the owner from a reset.
ACCOUNT_MAILS_PER_ACCOUNT = "3 per 15 minutes"


def request_key(email: str, client: str) -> str:
    """Requests about one account are counted per account and client address together."""
    return f"{normalize_email(email)[:MAX_EMAIL_LENGTH]}|{client}"


async def _issue_account_token(
    *, user: User, purpose: AccountTokenPurpose, ttl: timedelta, email: str | None = None
) -> str:
    assert user.id is not None
    token = new_opaque_token()
    await AccountToken(
        token_hash=hash_token(token),
        purpose=purpose,
        user_id=user.id,
        email=email or user.email,
        expires_at=utcnow() + ttl,
    ).insert()
    return token


INVALID_LINK = "The link is invalid, already used or expired"


async def _spend_account_token(
    *, token: str, purposes: tuple[AccountTokenPurpose, ...]
) -> AccountToken:
    """Spend a token of one of these purposes; the record, or BadRequest."""
    now = utcnow()
    redeemed = await repository.redeem_account_token(
        {
            "token_hash": hash_token(token),
            "purpose": {"$in": [purpose.value for purpose in purposes]},
            "expires_at": {"$gt": now},
            "email": {"$ne": None},
        },
        now,
    )
    if redeemed is None:
        raise BadRequest(INVALID_LINK)
    return redeemed


async def _redeem_account_token(*, token: str, purpose: AccountTokenPurpose) -> dict[str, Any]:
    """Spend a token; the caller acts only if the account still has the address it proves."""
    redeemed = await _spend_account_token(token=token, purposes=(purpose,))
    return {"_id": redeemed.user_id, "email": redeemed.email, "deleted_at": None}


async def burn_account_tokens(user_id: PydanticObjectId, *purposes: AccountTokenPurpose) -> None:
    await repository.burn_account_tokens(user_id, [p.value for p in purposes], utcnow())


async def _queue_account_mail(
    *, user: User, template: str, token: str, to: str | None = None, **context: object
) -> None:
    """Account mail ignores preferences and carries no unsubscribe link; like every email
    it is written to the outbox and sent by a worker, so a mail server that is down never
    fails the request that caused it.

    Until the address is verified, anyone could have typed it in, so the mail does not
    repeat the account's name: free text chosen by a stranger never reaches an inbox.
    Mail `to` another address than the account's (a pending one) is unverified too.
    """
    assert user.id is not None
    proven = to is None and user.email_verified
    rendered = render(
        template,
        user.locale.value,
        full_name=user.full_name if proven else None,
        code=token,
        unsubscribe_url=None,
        **context,
    )
    await delivery.queue_email(
        delivery.new_email(
            key=f"account:{template}:{hash_token(token)}",
            kind=EmailKind.account,
            to=to or user.email,
            rendered=rendered,
            recipient_id=user.id,
        )
    )


async def send_verification(*, settings: Settings, user: User) -> None:
    token = await _issue_account_token(
        user=user, purpose=AccountTokenPurpose.verify_email, ttl=VERIFY_EMAIL_TTL
    )
    link = f"{settings.public_base_url.rstrip('/')}/verify-email?token={token}"
    await _queue_account_mail(user=user, template="verify_email", token=token, link=link)


CONFIRMING = (AccountTokenPurpose.verify_email, AccountTokenPurpose.email_change)


async def verify_email(*, token: str) -> None:
    """Redeem a link mailed to confirm an address: the account's own, which is then
    verified, or a new one asked for, which then becomes the login."""
    redeemed = await _spend_account_token(token=token, purposes=CONFIRMING)
    user_id = redeemed.user_id
    assert redeemed.email is not None  # only tokens bound to an address are spent
    if redeemed.purpose == AccountTokenPurpose.email_change:
        await _adopt_new_email(user_id, redeemed.email)
        return
    bound = {"_id": user_id, "email": redeemed.email, "deleted_at": None}
    if not await repository.update_user(bound, {"$set": {"email_verified": True}}):
        raise BadRequest(INVALID_LINK)
    await user_cache.forget_user(user_id)
    await hooks.email_verified.send(user_id=user_id)


async def _adopt_new_email(user_id: PydanticObjectId, email: str) -> None:
    """The new mailbox answered: it becomes the login, and every link mailed to the old one
    dies (account links are spent; preference and unsubscribe links are older than
    `links_valid_after`)."""
    now = utcnow()
    try:
        adopted = await repository.update_user(
            {"_id": user_id, "pending_email": email, "deleted_at": None},
            {
                "$set": {
                    "email": email,
                    "email_verified": True,
                    "pending_email": None,
                    "links_valid_after": now,
                }
            },
        )
    except DuplicateKeyError as exc:
        raise Conflict("This address has become another account's login meanwhile") from exc
    if not adopted:
        raise BadRequest(INVALID_LINK)
    await burn_account_tokens(
        user_id,
        AccountTokenPurpose.password_reset,
        AccountTokenPurpose.verify_email,
        AccountTokenPurpose.email_change,
    )
    await user_cache.forget_user(user_id)


async def resend_verification(*, settings: Settings, email: str, allowed: Allowance) -> None:
    """Mail a new verification link when an active, unverified account has this email and
    has not had its share of account mail lately."""
    if len(email) > MAX_EMAIL_LENGTH:
        return
    user = await User.find_one({"email": normalize_email(email), "deleted_at": None})
    if user is None or user.email_verified or not await allowed(str(user.id)):
        return
    await send_verification(settings=settings, user=user)


async def account_token_holder(*, token: str, purpose: AccountTokenPurpose) -> User | None:
    """The live user a mailed token would act for, if it is still good; changes nothing.

    Pages call this on GET (mail scanners open links) to choose the reader's language and
    to say at once when a link has expired; only the POST redeems the token.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    found = await AccountToken.find_one(
        {
            "token_hash": hash_token(token),
            "purpose": purpose.value,
            "used_at": None,
            "expires_at": {"$gt": utcnow()},
            "email": {"$ne": None},
        }
    )
    if found is None:
        return None
    user = await User.get(found.user_id)
    if user is None or user.is_deleted:
        return None
    proven = user.pending_email if purpose == AccountTokenPurpose.email_change else user.email
    return user if proven == found.email else None


async def confirmation_holder(*, token: str) -> User | None:
    """The live user a confirmation link (of the account's address or of a new one) would
    act for, if it is still good; changes nothing."""
    for purpose in CONFIRMING:
        user = await account_token_holder(token=token, purpose=purpose)
        if user is not None:
            return user
    return None


async def send_email_change(*, settings: Settings, user: User, new_email: str) -> None:
    """Mail the new address a link that makes it the login, and tell the current one that
    a change was asked for, without the new address in full."""
    token = await _issue_account_token(
        user=user, purpose=AccountTokenPurpose.email_change, ttl=VERIFY_EMAIL_TTL, email=new_email
    )
    link = f"{settings.public_base_url.rstrip('/')}/verify-email?token={token}"
    await _queue_account_mail(
        user=user, template="email_change_confirm", token=token, to=new_email, link=link
    )
    # Keyed by this request's token, so the notice and the link are sent once each.
    await _queue_account_mail(
        user=user, template="email_change_requested", token=token, masked=masked_email(new_email)
    )


def masked_email(email: str) -> str:
    """Enough of an address to recognise it, not enough to learn it: m•••@example.org."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}•••@{domain}"


async def send_password_reset(*, settings: Settings, user: User) -> None:
    """Mail the user a single-use link to set a new password."""
    token = await _issue_account_token(
        user=user, purpose=AccountTokenPurpose.password_reset, ttl=PASSWORD_RESET_TTL
    )
    link = f"{settings.public_base_url.rstrip('/')}/reset-password?token={token}"
    minutes = int(PASSWORD_RESET_TTL.total_seconds() // 60)
    await _queue_account_mail(
        user=user, template="password_reset", token=token, link=link, minutes=minutes
    )


async def request_password_reset(*, settings: Settings, email: str, allowed: Allowance) -> None:
    """Mail a reset link when an active account has this email and has not had its share
    of account mail lately; otherwise do nothing."""
    if len(email) > MAX_EMAIL_LENGTH:
        return
    user = await User.find_one({"email": normalize_email(email), "deleted_at": None})
    if user is None or not await allowed(str(user.id)):
        return
    await send_password_reset(settings=settings, user=user)


async def reset_password(*, token: str, new_password: str) -> None:
    """Redeem a reset token, set the new password and end every session of the account."""
    await _set_password_with(
        token=token, purpose=AccountTokenPurpose.password_reset, password=new_password
    )


async def accept_invitation(*, token: str, new_password: str) -> None:
    """Redeem an invitation: the account gets its first password and, since the mailbox
    answered, a verified address."""
    await _set_password_with(token=token, purpose=AccountTokenPurpose.invite, password=new_password)


# Once a password is set from a mailed link, no older link may set another.
PASSWORD_LINKS = (
    AccountTokenPurpose.password_reset,
    AccountTokenPurpose.invite,
    AccountTokenPurpose.email_change,
)


async def _set_password_with(*, token: str, purpose: AccountTokenPurpose, password: str) -> None:
    bound = await _redeem_account_token(token=token, purpose=purpose)
    password_hash = await hash_password_async(password)
    now = utcnow()
    # The mailbox the token went to answered, and the account still has that address.
    # A pending email change is withdrawn: whoever asked for it knew the old password.
    if not await repository.update_user(
        bound,
        {"$set": {"password_hash": password_hash, "email_verified": True, "pending_email": None}},
    ):
        raise BadRequest(INVALID_LINK)
    user_id = PydanticObjectId(bound["_id"])
    await burn_account_tokens(user_id, *PASSWORD_LINKS)
    await sessions.end_every_session(user_id, now)
    await hooks.email_verified.send(user_id=user_id)


async def send_invitations(
    *, settings: Settings, invited: Sequence[User], school_name: str | None
) -> None:
    """Mail each account an admin created without a password a single-use link to choose
    one, naming the school and the role: one write of the links, one of the emails, however
    many people a spreadsheet brought in.

    Nobody has proven these mailboxes yet, so the mail repeats no name typed for the person.
    """
    links: list[AccountToken] = []
    emails = []
    now = utcnow()
    for user in invited:
        assert user.id is not None
        token = new_opaque_token()
        links.append(
            AccountToken(
                token_hash=hash_token(token),
                purpose=AccountTokenPurpose.invite,
                user_id=user.id,
                email=user.email,
                expires_at=now + INVITE_TTL,
            )
        )
        locale = user.locale.value
        rendered = render(
            "invitation",
            locale,
            school_name=school_name,
            role=translate(locale, f"role.{user.role.value}"),
            # With the language: a link that has run out still answers in the reader's.
            link=public_url(settings.public_base_url, "/set-password", token=token, lang=locale),
            days=INVITE_TTL.days,
            unsubscribe_url=None,
        )
        emails.append(
            delivery.new_email(
                key=f"account:invitation:{hash_token(token)}",
                kind=EmailKind.account,
                to=user.email,
                rendered=rendered,
                recipient_id=user.id,
            )
        )
    # The links first: a mail is never sent with a link that does not work yet.
    await repository.insert_account_tokens(links)
    await delivery.queue_emails(emails)


async def reinvite(*, settings: Settings, user: User, school_name: str | None) -> None:
    """A fresh invitation; the links mailed before it stop working."""
    assert user.id is not None
    await burn_account_tokens(user.id, AccountTokenPurpose.invite)
    await send_invitations(settings=settings, invited=[user], school_name=school_name)
