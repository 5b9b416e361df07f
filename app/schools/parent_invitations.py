"""Guardian codes mailed to the parents an import lists: many at once, each (child, address)
pair once, however often or concurrently the same file is imported."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from beanie import PydanticObjectId

from app.auth import service as auth_service
from app.auth.models import User, normalize_email
from app.core.config import Settings
from app.core.security import hash_token, utcnow
from app.delivery import service as delivery
from app.schools import repository
from app.schools.guardians import GUARDIAN_CODE_TTL, guardian_code_email, new_guardian_code
from app.schools.models import GuardianCode


@dataclass(frozen=True)
class CodeToMail:
    student: User
    address: str
    # The live account that has the address, if one does: the mail speaks its language.
    account: User | None


async def codes_to_mail(invitations: Sequence[tuple[User, str]]) -> list[CodeToMail]:
    """Of these (student, parent address) pairs, those not yet mailed a code this way and
    whose address is not already a parent linked to the child; changes nothing."""
    pairs = {(s.id, normalize_email(a)): s for s, a in invitations if s.id is not None}
    if not pairs:
        return []
    accounts = {
        u.email: u
        for u in await auth_service.users_by_emails([a for _, a in pairs])
        if not u.is_deleted
    }
    linked = await repository.linked_pairs(
        [u.id for u in accounts.values() if u.id is not None], [s for s, _ in pairs]
    )
    mailed = await repository.codes_taken([invitation_code_id(*pair) for pair in pairs])
    wanted = []
    for (student_id, address), student in pairs.items():
        account = accounts.get(address)
        if account is not None and (account.id, student_id) in linked:
            continue
        if invitation_code_id(student_id, address) not in mailed:
            wanted.append(CodeToMail(student, address, account))
    return wanted


def invitation_code_id(student_id: PydanticObjectId | None, address: str) -> PydanticObjectId:
    """The id of the code an import mails to `address` for the child: derived from the
    pair, so the _id index itself refuses a second one (a re-import, or the same file
    imported at the same moment), with no other index to keep."""
    digest = hashlib.sha256(f"guardian-invitation:{student_id}:{address}".encode()).digest()
    return PydanticObjectId(digest[:12])


async def mail_guardian_codes(
    *, settings: Settings, issuer: User, invitations: Sequence[tuple[User, str]]
) -> int:
    """Issue and mail a code for each (student, parent address) pair that codes_to_mail
    keeps; how many were mailed. A few round trips whatever the number: the reads of
    codes_to_mail, one insert of codes (ids derived from the pairs drop those a parallel run
    mailed meanwhile), a read of which went in, one insert of emails."""
    assert issuer.id is not None
    expires_at = utcnow() + GUARDIAN_CODE_TTL
    drawn: dict[PydanticObjectId, tuple[str, GuardianCode, CodeToMail]] = {}
    for wanted in await codes_to_mail(invitations):
        assert wanted.student.id is not None
        code = new_guardian_code()
        document = GuardianCode(
            id=invitation_code_id(wanted.student.id, wanted.address),
            code_hash=hash_token(code),
            student_id=wanted.student.id,
            issued_by=issuer.id,
            expires_at=expires_at,
        )
        assert document.id is not None
        drawn[document.id] = (code, document, wanted)
    written = await repository.insert_codes([d for _, d, _ in drawn.values()])
    emails = [
        guardian_code_email(
            settings=settings,
            code=code,
            document=document,
            address=wanted.address,
            account=wanted.account,
            student=wanted.student,
        )
        for code_id, (code, document, wanted) in drawn.items()
        if code_id in written
    ]
    await delivery.queue_emails(emails)
    return len(emails)
