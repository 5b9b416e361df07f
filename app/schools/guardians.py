"""Guardians: single-use codes, the links a parent makes by redeeming one, their children.

Only the parent's own action links (redeeming a code); an admin or the parent unlinks.
Whatever must follow a link or an unlink (the parent following the child) is done by the
layers above through schools.hooks.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from beanie import PydanticObjectId

from app.auth import service as auth_service
from app.auth.models import Role, User
from app.core.config import Settings
from app.core.db import DuplicateKeyError, collection, joined, parse_object_id
from app.core.errors import BadRequest, Conflict, Forbidden, NotFound
from app.core.pagination import PageParams, newest_first_page
from app.core.security import hash_token, utcnow
from app.delivery import service as delivery
from app.delivery.models import EmailKind
from app.delivery.render import render
from app.schools import hooks
from app.schools.models import GuardianCode, GuardianLink, School, SchoolClass

# Unambiguous when read aloud or copied from paper: no 0/O, 1/I/L.
GUARDIAN_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
GUARDIAN_CODE_LENGTH = 8
GUARDIAN_CODE_TTL = timedelta(days=7)
# A code colliding with a live one (one in 31**8) is drawn again this often.
DRAW_ATTEMPTS = 5


def _new_guardian_code() -> str:
    return "".join(secrets.choice(GUARDIAN_CODE_ALPHABET) for _ in range(GUARDIAN_CODE_LENGTH))


def normalise_guardian_code(code: str) -> str:
    # People copy codes with spaces or dashes between groups and in any case.
    return "".join(code.split()).replace("-", "").upper()


async def issue_guardian_code(
    *, settings: Settings, issuer: User, student: User, email: str | None = None
) -> tuple[str, GuardianCode]:
    """A fresh single-use code a parent redeems to link to `student`; only its hash is kept.

    With `email` the code is also mailed there. The parent still links themselves: no one
    can attach an account to a child without its owner entering the code.
    """
    assert issuer.id is not None and student.id is not None
    for _ in range(DRAW_ATTEMPTS):
        code = _new_guardian_code()
        document = GuardianCode(
            code_hash=hash_token(code),
            student_id=student.id,
            issued_by=issuer.id,
            expires_at=utcnow() + GUARDIAN_CODE_TTL,
        )
        try:
            await document.insert()
        except DuplicateKeyError:
            continue  # one in 31**8; draw again
        if email is not None:
            await _mail_guardian_code(
                settings=settings, code=code, document=document, email=email, student=student
            )
        return code, document
    raise Conflict("Could not issue a code; try again")


async def _mail_guardian_code(
    *, settings: Settings, code: str, document: GuardianCode, email: str, student: User
) -> None:
    address = email.strip().lower()
    account = await auth_service.live_user_by_email(address)
    # Nobody has proven this mailbox: the mail carries no name or other free text that
    # staff typed, only the code and how to use it.
    rendered = render(
        "guardian_code",
        (account or student).locale.value,
        code=code,
        link=f"{settings.public_base_url.rstrip('/')}/",
        expires=document.expires_at.date().isoformat(),
        unsubscribe_url=None,
    )
    await delivery.queue_email(
        delivery.new_email(
            key=f"account:guardian_code:{document.code_hash}",
            kind=EmailKind.account,
            to=address,
            rendered=rendered,
            recipient_id=account.id if account is not None else None,
            school_id=student.school_ids[0] if student.school_ids else None,
        )
    )


async def link_guardian(*, parent_id: PydanticObjectId, student_id: PydanticObjectId) -> bool:
    """Link a parent to a student; True if the link is new.

    Every way of linking comes through here, so whatever must follow a link (the
    parent's subscription to the child) belongs here too.
    """
    try:
        await GuardianLink(parent_id=parent_id, student_id=student_id).insert()
        created = True
    except DuplicateKeyError:
        created = False
    # Also on an existing link, so a retry after a crash between the two writes heals it.
    await hooks.guardian_linked.send(parent_id=parent_id, student_id=student_id)
    return created


async def unlink_guardian(*, parent_id: PydanticObjectId, student_id: PydanticObjectId) -> bool:
    """Remove a parent's link to a student; True if there was one."""
    result = await collection(GuardianLink).delete_one(
        {"parent_id": parent_id, "student_id": student_id}
    )
    await hooks.guardian_unlinked.send(parent_id=parent_id, student_id=student_id)
    return bool(result.deleted_count)


_WRONG_CODE = "Guardian code is wrong, already used or expired"


async def redeem_guardian_code(*, parent: User, code: str) -> User:
    """Spend a guardian code and link the parent to its child; returns the child."""
    assert parent.id is not None
    if not parent.email_verified:
        # A code mailed to an address proves nothing about an account whose own address
        # is unproven: whoever registered it could be anyone.
        raise Forbidden("Verify your email address before entering a guardian code")
    normalised = normalise_guardian_code(code)
    if len(normalised) != GUARDIAN_CODE_LENGTH or not set(normalised) <= set(
        GUARDIAN_CODE_ALPHABET
    ):
        raise BadRequest(_WRONG_CODE)
    now = utcnow()
    # One conditional update: of two parents racing for one code, exactly one gets it.
    raw = await collection(GuardianCode).find_one_and_update(
        {"code_hash": hash_token(normalised), "redeemed_at": None, "expires_at": {"$gt": now}},
        {"$set": {"redeemed_at": now, "redeemed_by": parent.id}},
    )
    if raw is None:
        raise BadRequest(_WRONG_CODE)
    student = await auth_service.get_live_user(PydanticObjectId(raw["student_id"]))
    if student is None or student.role != Role.student:
        raise BadRequest("The child's account no longer exists")
    assert student.id is not None
    await link_guardian(parent_id=parent.id, student_id=student.id)
    return student


@dataclass
class Child:
    student: User
    classes: list[tuple[School, SchoolClass]]


async def _with_classes(students: list[User]) -> list[Child]:
    ids = [s.id for s in students]
    schools = await School.find({"deleted_at": None, "classes.student_ids": {"$in": ids}}).to_list()
    return [
        Child(
            student=s,
            classes=[
                (school, c) for school in schools for c in school.classes if s.id in c.student_ids
            ],
        )
        for s in students
    ]


async def child_view(*, student: User) -> Child:
    """A child with the classes they sit in."""
    return (await _with_classes([student]))[0]


async def list_children(*, parent: User, page: PageParams) -> tuple[list[Child], str | None]:
    """The parent's linked children, most recently linked first."""
    links, cursor = await newest_first_page(
        GuardianLink, {"parent_id": parent.id}, limit=page.limit, cursor=page.cursor
    )
    students = {s.id: s for s in await auth_service.live_users([link.student_id for link in links])}
    ordered = [students[link.student_id] for link in links if link.student_id in students]
    return await _with_classes(ordered), cursor


async def remove_child(*, parent: User, student_id: str) -> None:
    """The parent unlinks themselves from a child."""
    assert parent.id is not None
    student_oid = parse_object_id(student_id, what="Child")
    if not await unlink_guardian(parent_id=parent.id, student_id=student_oid):
        raise NotFound("You are not linked to this child")


async def admin_unlink_guardian(*, student: User, parent_id: str) -> None:
    """Remove a parent's link to a student (nothing to do if there is none)."""
    assert student.id is not None
    await unlink_guardian(
        parent_id=parse_object_id(parent_id, what="Parent"), student_id=student.id
    )


# A batch of ids per query keeps each $in list bounded however large the school.
LINK_BATCH = 1000


async def parents_of(student_ids: Sequence[PydanticObjectId]) -> list[PydanticObjectId]:
    """The parents linked to any of these students, each once."""
    ids = list(dict.fromkeys(student_ids))
    found: list[PydanticObjectId] = []
    for start in range(0, len(ids), LINK_BATCH):
        batch = ids[start : start + LINK_BATCH]
        found.extend(
            link.parent_id
            for link in await GuardianLink.find({"student_id": {"$in": batch}}).to_list()
        )
    return list(dict.fromkeys(found))


async def children_of(
    parent_ids: Sequence[PydanticObjectId],
) -> dict[PydanticObjectId, set[PydanticObjectId]]:
    """Each of these parents' linked children (a parent with none is left out)."""
    ids = list(dict.fromkeys(parent_ids))
    children: dict[PydanticObjectId, set[PydanticObjectId]] = {}
    for start in range(0, len(ids), LINK_BATCH):
        batch = ids[start : start + LINK_BATCH]
        for link in await GuardianLink.find({"parent_id": {"$in": batch}}).to_list():
            children.setdefault(link.parent_id, set()).add(link.student_id)
    return children


def linked_parent_count_stages() -> list[dict[str, Any]]:
    """From documents whose `_id` is a school id: how many live parents are linked to a
    live student of those schools, each counted once. Rows: none or one {count}."""
    return [
        *auth_service.member_stages(role=Role.student),
        *joined(GuardianLink, local_field="_id", foreign_field="student_id"),
        {"$group": {"_id": "$parent_id"}},
        *auth_service.live_user_stages("_id"),
        {"$count": "count"},
    ]
