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
from pathlib import Path
from typing import Any

from beanie import PydanticObjectId

from app.auth import directory
from app.auth import service as auth_service
from app.auth.models import Role, User, normalize_email
from app.core.config import Settings
from app.core.db import DuplicateKeyError, joined, parse_object_id
from app.core.errors import BadRequest, Conflict, Forbidden, NotFound
from app.core.pagination import (
    PageParams,
    newest_first_filter,
    next_cursor,
)
from app.core.security import hash_token, utcnow
from app.core.web import public_url
from app.delivery import service as delivery
from app.delivery.models import Email, EmailKind
from app.delivery.render import add_templates, render
from app.schools import hooks, repository
from app.schools.access import can_manage_student, teaches_student
from app.schools.models import GuardianCode, GuardianLink, School, SchoolClass

# Unambiguous when read aloud or copied from paper: no 0/O, 1/I/L.
GUARDIAN_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
GUARDIAN_CODE_LENGTH = 8
GUARDIAN_CODE_TTL = timedelta(days=7)
# A code colliding with a live one (one in 31**8) is drawn again this often.
DRAW_ATTEMPTS = 5

# The guardian-code email is this domain's own; delivery only lays it out and sends it.
add_templates("schools", Path(__file__).parent / "emails")


def new_guardian_code() -> str:
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
        code = new_guardian_code()
        document = GuardianCode(
            code_hash=hash_token(code),
            student_id=student.id,
            issued_by=issuer.id,
            expires_at=utcnow() + GUARDIAN_CODE_TTL,
            email=normalize_email(email) if email is not None else None,
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


def join_link(settings: Settings, code: str) -> str:
    """Where a mailed code takes its reader: the page that joins them to the child."""
    return public_url(settings.public_base_url, "/join", code=code)


def guardian_code_email(
    *,
    settings: Settings,
    code: str,
    document: GuardianCode,
    address: str,
    account: User | None,
    student: User,
) -> Email:
    # Nobody has proven this mailbox: the mail carries no name or other free text that
    # staff typed, only the code and how to use it.
    rendered = render(
        "schools/guardian_code",
        (account or student).locale.value,
        code=code,
        link=join_link(settings, code),
        expires=document.expires_at.date().isoformat(),
        unsubscribe_url=None,
    )
    return delivery.new_email(
        key=f"account:guardian_code:{document.code_hash}",
        kind=EmailKind.account,
        to=address,
        rendered=rendered,
        recipient_id=account.id if account is not None else None,
        school_id=student.school_ids[0] if student.school_ids else None,
    )


async def _mail_guardian_code(
    *, settings: Settings, code: str, document: GuardianCode, email: str, student: User
) -> None:
    address = normalize_email(email)
    account = await directory.live_user_by_email(address)
    await delivery.queue_email(
        guardian_code_email(
            settings=settings,
            code=code,
            document=document,
            address=address,
            account=account,
            student=student,
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
    removed = await repository.delete_link(parent_id, student_id)
    await hooks.guardian_unlinked.send(parent_id=parent_id, student_id=student_id)
    return removed


_WRONG_CODE = "Guardian code is wrong, already used or expired"


async def redeem_guardian_code(*, parent: User, code: str) -> User:
    """Spend a guardian code and link the parent to its child; returns the child."""
    assert parent.id is not None
    if not parent.email_verified:
        # A code mailed to an address proves nothing about an account whose own address
        # is unproven: whoever registered it could be anyone.
        raise Forbidden("Verify your email address before entering a guardian code")
    code_hash = guardian_code_hash(code)
    if code_hash is None:
        raise BadRequest(_WRONG_CODE)
    return await _redeem(parent=parent, which={"code_hash": code_hash})


async def redeem_claimed_code(*, parent: User, code_id: PydanticObjectId) -> User:
    """Spend a code this parent asked for from the join page, now that their address is
    proven; returns the child."""
    assert parent.id is not None
    return await _redeem(parent=parent, which={"_id": code_id, "claimants": parent.id})


def guardian_code_hash(code: str) -> str | None:
    """The stored hash of a code as a person typed it, or None when it cannot be one."""
    normalised = normalise_guardian_code(code)
    if len(normalised) != GUARDIAN_CODE_LENGTH or not set(normalised) <= set(
        GUARDIAN_CODE_ALPHABET
    ):
        return None
    return hash_token(normalised)


async def _redeem(*, parent: User, which: dict[str, Any]) -> User:
    assert parent.id is not None
    now = utcnow()
    # One conditional update: of two parents racing for one code, exactly one gets it.
    redeemed = await repository.redeem_code(
        {**which, "redeemed_at": None, "expires_at": {"$gt": now}},
        {"$set": {"redeemed_at": now, "redeemed_by": parent.id}},
    )
    if redeemed is None:
        raise BadRequest(_WRONG_CODE)
    student = await auth_service.get_live_user(redeemed.student_id)
    if student is None or student.role != Role.student:
        raise BadRequest("The child's account no longer exists")
    assert student.id is not None
    if not await issuer_still_may_issue(redeemed.issued_by, student):
        raise BadRequest(_STALE_CODE)
    await link_guardian(parent_id=parent.id, student_id=student.id)
    return student


_STALE_CODE = "This guardian code is no longer valid; ask the child's school for a new one"


async def issuer_still_may_issue(issuer_id: PydanticObjectId, student: User) -> bool:
    """A code links only while whoever issued it may still issue one for this child: an
    admin of a school the child has left, or a teacher taken off the child's class, hands
    out no link to a child who is now someone else's to look after."""
    issuer = await auth_service.get_live_user(issuer_id)
    if issuer is None or issuer.id is None or student.id is None:
        return False
    if issuer.role == Role.teacher:
        return await teaches_student(issuer.id, student.id)
    return issuer.role == Role.admin and can_manage_student(issuer, student)


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


def _places_joined() -> list[dict[str, Any]]:
    """Stages that add `_places` to a guardian link: the live schools its student sits in,
    each with only its name and the student's classes (id and name), not their rosters."""
    live = {"$eq": [{"$ifNull": ["$$s.deleted_at", None]}, None]}
    sits_in = {"$in": ["$student_id", {"$ifNull": ["$$c.student_ids", []]}]}
    classes = {
        "$map": {
            "input": {
                "$filter": {"input": {"$ifNull": ["$$s.classes", []]}, "as": "c", "cond": sits_in}
            },
            "as": "c",
            "in": {"id": "$$c.id", "name": "$$c.name"},
        }
    }
    return [
        {
            "$lookup": {
                "from": School.get_collection_name(),
                "localField": "student_id",
                "foreignField": "classes.student_ids",
                "as": "_schools",
            }
        },
        {
            "$addFields": {
                "_places": {
                    "$map": {
                        "input": {"$filter": {"input": "$_schools", "as": "s", "cond": live}},
                        "as": "s",
                        "in": {"_id": "$$s._id", "name": "$$s.name", "classes": classes},
                    }
                }
            }
        },
        {"$project": {"_schools": 0}},
    ]


async def list_children(*, parent: User, page: PageParams) -> tuple[list[Child], str | None]:
    """The parent's linked children, most recently linked first.

    The page of links and the classes of those children come in one query (links and
    schools are both this domain's), the children's accounts in a second."""
    after = newest_first_filter("created_at", page.cursor)
    mine = {"parent_id": parent.id}
    rows = await repository.link_rows(
        [
            {"$match": {"$and": [mine, after]} if after else mine},
            {"$sort": {"created_at": -1, "_id": -1}},  # as newest_first_sort
            {"$limit": page.limit + 1},
            *_places_joined(),
        ],
    )
    places = {row["_id"]: row.pop("_places", None) or [] for row in rows}
    links, cursor = next_cursor(
        [GuardianLink.model_validate(row) for row in rows], page.limit, "created_at"
    )
    students = {s.id: s for s in await directory.live_users([link.student_id for link in links])}
    children = []
    for link in links:
        student = students.get(link.student_id)
        if student is None:
            continue
        classes = [
            (School(id=place["_id"], name=place["name"]), SchoolClass(**c))
            for place in places[link.id]
            for c in place["classes"]
        ]
        children.append(Child(student=student, classes=classes))
    return children, cursor


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
        *directory.member_stages(role=Role.student),
        *joined(GuardianLink, local_field="_id", foreign_field="student_id"),
        {"$group": {"_id": "$parent_id"}},
        *directory.live_user_stages("_id"),
        {"$count": "count"},
    ]
