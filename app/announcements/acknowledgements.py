"""Acknowledgements: who is asked to confirm they read an announcement, their answers, the
list and its export, and reminding those who have not answered (at most once an hour)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from beanie import PydanticObjectId

from app.announcements import repository
from app.announcements.models import Acknowledgement, Announcement, AnnouncementStatus
from app.announcements.notices import ack_roles, announcement_notice
from app.auth import directory
from app.auth.models import User
from app.core import jobs
from app.core.errors import Conflict, Forbidden, TooManyRequests
from app.core.i18n import format_datetime, translate
from app.core.pagination import decode_cursor, encode_cursor
from app.core.security import as_utc, utcnow
from app.notifications.fanout import publish
from app.schools import guardians
from app.schools import service as schools

REMIND_JOB = "announcements.remind"
REMIND_EVERY = timedelta(hours=1)


async def expect_acknowledgements(
    announcement: Announcement, recipients: Sequence[PydanticObjectId]
) -> int:
    """Ask the recipients in the acknowledging role to confirm they read it (before they
    are notified, so a click on the email always finds its row)."""
    assert announcement.id is not None
    roles = set(ack_roles(announcement))
    people = await directory.live_users(list(recipients))
    asked = [u.id for u in people if u.id is not None and u.role.value in roles]
    return await repository.add_expected_acks(announcement.id, asked)


def _asks_for_answers(announcement: Announcement) -> None:
    if not announcement.requires_ack:
        raise Conflict("This announcement does not ask for acknowledgement")
    if announcement.status != AnnouncementStatus.published:
        state = announcement.status.value
        raise Conflict(f"Only a published announcement can be acknowledged; this one is {state}")


async def acknowledge(*, announcement: Announcement, user: User) -> Acknowledgement:
    """Record that `user` read it; again changes nothing (the first time stays)."""
    assert announcement.id is not None and user.id is not None
    _asks_for_answers(announcement)
    row = await repository.mark_acknowledged(announcement.id, user.id, now=utcnow())
    if row is None:
        raise Forbidden("This announcement did not ask you to acknowledge it")
    return row


async def acknowledgement_of(*, announcement: Announcement, user: User) -> Acknowledgement | None:
    """Whether and when `user` acknowledged it; None when they were not asked."""
    assert announcement.id is not None and user.id is not None
    return await repository.ack_of(announcement.id, user.id)


@dataclass(frozen=True)
class AckRow:
    user_id: PydanticObjectId
    full_name: str
    at: datetime | None


async def acks_page(
    *, announcement: Announcement, limit: int, cursor: str | None
) -> tuple[list[AckRow], str | None]:
    """One page of the people asked, in the order they were asked, with their names: two
    queries whatever the audience."""
    assert announcement.id is not None
    after = PydanticObjectId(decode_cursor(cursor)[1]) if cursor else None
    rows = await repository.acks_after(announcement.id, after, limit=limit + 1)
    page = rows[:limit]
    names = await directory.full_names([row.user_id for row in page])
    following = None
    if len(rows) > limit and page[-1].id is not None:
        last = page[-1].id
        following = encode_cursor(last.generation_time, last)
    return [
        AckRow(user_id=row.user_id, full_name=names.get(row.user_id, ""), at=row.acknowledged_at)
        for row in page
    ], following


@dataclass(frozen=True)
class AckFigures:
    acknowledged: int
    pending: int


def ack_figures(rows: list[dict[str, int]]) -> AckFigures:
    """The counts of repository.ack_count_stages' rows."""
    found = rows[0] if rows else {"asked": 0, "acknowledged": 0}
    return AckFigures(
        acknowledged=found["acknowledged"], pending=found["asked"] - found["acknowledged"]
    )


async def export_rows(
    *, announcement: Announcement, reader: User
) -> tuple[list[str], list[list[str]]]:
    """The list as a spreadsheet reads it in the reader's language and zone: name, class,
    child, answer, time. A parent's row names their children in the school and classes."""
    assert announcement.id is not None
    locale, zone = reader.locale.value, reader.timezone
    rows = await repository.all_acks(announcement.id)
    asked = [row.user_id for row in rows]
    children = await guardians.children_of(asked)
    school = await schools.school_by_id(announcement.school_id)
    classes = school.classes if school is not None else []
    addressed = {
        c.id for c in classes if not announcement.class_ids or c.id in announcement.class_ids
    }
    class_of = {s: c.name for c in classes if c.id in addressed for s in c.student_ids}
    names = await directory.full_names([*asked, *(s for kids in children.values() for s in kids)])

    def cells(row: Acknowledgement) -> list[str]:
        kids = sorted(
            (k for k in children.get(row.user_id, set()) if k in class_of),
            key=lambda k: names.get(k, ""),
        )
        if kids:
            class_names = ", ".join(dict.fromkeys(class_of[k] for k in kids))
            child_names = ", ".join(names.get(k, "") for k in kids)
        else:
            class_names, child_names = class_of.get(row.user_id, ""), ""
        answer = "acknowledged" if row.acknowledged_at is not None else "pending"
        at = format_datetime(row.acknowledged_at, locale, zone) if row.acknowledged_at else ""
        return [
            names.get(row.user_id, ""),
            class_names,
            child_names,
            translate(locale, f"acks.answer.{answer}"),
            at,
        ]

    header = [
        translate(locale, f"acks.column.{column}")
        for column in ("name", "class", "child", "answer", "time")
    ]
    return header, [cells(row) for row in rows]


def export_name(announcement: Announcement, what: str) -> str:
    """The file's name: what it is and the announcement's title, without characters a file
    system refuses."""
    title = re.sub(r"[^\w .,()-]+", " ", announcement.title).strip()[:80]
    return " ".join(f"{what} - {title}".split()) if title else what


async def remind(*, announcement: Announcement) -> None:
    """Remind everyone who has not acknowledged (by a job): 429 within an hour of the
    last reminder, decided by one conditional write so two calls at once send one."""
    _asks_for_answers(announcement)
    now = utcnow()
    if not await repository.claim_reminder(announcement.id, now=now, not_since=now - REMIND_EVERY):
        latest = await repository.get(announcement.id) if announcement.id else None
        last = latest.last_reminded_at if latest and latest.last_reminded_at else now
        wait = (as_utc(last) + REMIND_EVERY - now).total_seconds()
        raise TooManyRequests(retry_after=max(1, int(wait) + 1))
    await jobs.enqueue(
        REMIND_JOB, announcement_id=str(announcement.id), reminded_at=now.isoformat()
    )


@jobs.job(REMIND_JOB, queue=jobs.FANOUT_QUEUE)
async def send_reminder(*, announcement_id: str, reminded_at: str) -> int:
    """Notify those who have not acknowledged; run again, it sends nobody anything twice
    (its dedupe key is the reminder's time)."""
    announcement = await repository.get(PydanticObjectId(announcement_id))
    if announcement is None or announcement.status != AnnouncementStatus.published:
        return 0
    school = await schools.school_by_id(announcement.school_id)
    if school is None or school.deleted_at is not None:
        return 0
    pending = await repository.pending_ack_user_ids(PydanticObjectId(announcement_id))
    if not pending:
        return 0
    moment = int(datetime.fromisoformat(reminded_at).timestamp() * 1000)
    notice = await announcement_notice(
        announcement, school=school, recipients=pending, reminder=str(moment)
    )
    return await publish(notice)
