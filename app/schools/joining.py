"""Joining from the code email: a parent opens /join?code=, registers or signs in there, and
is linked to the child.

A parent with a verified account is linked at once. One new here (or not yet verified) is
noted on the code as a claimant and linked the moment their address is confirmed, through
auth's `email_verified` hook: the confirmation is the parent's own action, and it proves the
mailbox the code was mailed to.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from beanie import PydanticObjectId

from app.auth import hooks as auth_hooks
from app.auth import service as auth_service
from app.auth import tokens as auth_tokens
from app.auth.models import Locale, Role, User
from app.core.config import Settings
from app.core.errors import BadRequest, Forbidden
from app.core.ratelimit import Allowance
from app.core.security import as_utc, utcnow
from app.schools import guardians, repository
from app.schools.models import GuardianCode

log = logging.getLogger(__name__)


class CodeProblem(StrEnum):
    """Why a code in a join link no longer works."""

    unknown = "unknown"
    used = "used"
    expired = "expired"
    withdrawn = "withdrawn"


@dataclass(frozen=True)
class JoinOffer:
    """What the join page tells about a good code: whose child, which school."""

    code: GuardianCode
    student: User
    school_name: str
    school_timezone: str

    @property
    def child_first_name(self) -> str:
        # Only the first name: whoever holds the code learns no more than the school told.
        return self.student.full_name.split()[0] if self.student.full_name.split() else ""


class CodeNotUsable(BadRequest):
    """A code that is unknown, used, expired or withdrawn."""

    def __init__(self, problem: CodeProblem) -> None:
        super().__init__(f"This guardian code cannot be used: {problem.value}")
        self.problem = problem


async def read_offer(code: str) -> JoinOffer:
    """The child and school a code would link to, while it is good; CodeNotUsable else.
    Changes nothing (mail scanners open links)."""
    code_hash = guardians.guardian_code_hash(code)
    document = await repository.code_by_hash(code_hash) if code_hash is not None else None
    if document is None:
        raise CodeNotUsable(CodeProblem.unknown)
    if document.redeemed_at is not None:
        raise CodeNotUsable(CodeProblem.used)
    if as_utc(document.expires_at) <= utcnow():
        raise CodeNotUsable(CodeProblem.expired)
    student = await auth_service.get_live_user(document.student_id)
    if student is None or student.role != Role.student:
        raise CodeNotUsable(CodeProblem.withdrawn)
    if not await guardians.issuer_still_may_issue(document.issued_by, student):
        raise CodeNotUsable(CodeProblem.withdrawn)
    child = await guardians.child_view(student=student)
    school = child.classes[0][0] if child.classes else None
    return JoinOffer(
        code=document,
        student=student,
        school_name=school.name if school is not None else "",
        school_timezone=school.timezone if school is not None else "UTC",
    )


async def join_as_new(
    *,
    settings: Settings,
    offer: JoinOffer,
    email: str,
    full_name: str,
    password: str,
    locale: Locale,
) -> User:
    """Register a parent and note them on the code: they are linked when they confirm the
    address (a Conflict when it already has an account)."""
    parent = await auth_service.register(
        settings=settings,
        email=email,
        password=password,
        full_name=full_name,
        locale=locale,
        timezone=offer.school_timezone,
    )
    await _claim(offer, parent)
    return parent


class JoinOutcome(StrEnum):
    linked = "linked"
    confirm_first = "confirm_first"


async def join_as_existing(
    *, settings: Settings, offer: JoinOffer, parent: User, allowed: Allowance
) -> JoinOutcome:
    """Link a signed-in parent at once when their address is verified; otherwise note them
    on the code and mail a new confirmation link (within the account-mail allowance)."""
    if parent.role != Role.parent:
        raise Forbidden("Only a parent's account can be linked to a child")
    assert parent.id is not None and offer.code.id is not None
    if parent.email_verified:
        await _claim(offer, parent)
        await guardians.redeem_claimed_code(parent=parent, code_id=offer.code.id)
        return JoinOutcome.linked
    await _claim(offer, parent)
    if await allowed(str(parent.id)):
        await auth_tokens.send_verification(settings=settings, user=parent)
    return JoinOutcome.confirm_first


async def _claim(offer: JoinOffer, parent: User) -> None:
    assert parent.id is not None
    good = {"_id": offer.code.id, "redeemed_at": None, "expires_at": {"$gt": utcnow()}}
    if not await repository.add_claimant(good, parent.id):
        # Spent or expired between showing the page and this form's answer.
        raise CodeNotUsable(CodeProblem.used)


@auth_hooks.email_verified.connect
async def link_claimed_children(*, user_id: PydanticObjectId) -> None:
    """A parent who asked for a child from the join page confirmed their address: spend the
    codes they asked for and link them."""
    parent = await auth_service.get_live_user(user_id)
    if parent is None or parent.role != Role.parent or not parent.email_verified:
        return
    for code in await repository.codes_claimed_by(user_id, utcnow()):
        assert code.id is not None
        try:
            await guardians.redeem_claimed_code(parent=parent, code_id=code.id)
        except BadRequest as exc:
            # Spent by another claimant meanwhile, or withdrawn: nothing to link.
            log.info("claimed guardian code %s not redeemed: %s", code.id, exc)
