"""Who is notified of each event: one row per rule, over a campus of related people.

Each row names exactly who must hear; everyone else on the campus must not. See
tests/notifications/helpers.py for who is related to whom.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from beanie import PydanticObjectId

from app.announcements.audience import announcement_recipients
from app.announcements.topic import AnnouncementPayload
from app.auth.models import Role
from app.grades.notices import grade_recipients
from app.notifications import fanout, service
from app.notifications.models import Notice
from tests.notifications.helpers import Campus

STAFF_5A = {"t5a", "s5a", "s5a2"}
STAFF_6B = {"t6b", "s6b"}
# Parents who follow the school, the class, or a child in it for announcements
# (p_all follows the school too, so hears about 6B; p_class5a follows only 5A).
PARENTS_5A = {"p_child", "p_school", "p_class5a", "p_all", "p_ann_only"}
PARENTS_6B = {"p_other_child", "p_school", "p_class6b", "p_all"}
WHOLE_SCHOOL_MEMBERS = STAFF_5A | STAFF_6B | {"t_none"}
WHOLE_SCHOOL_PARENTS = PARENTS_5A | PARENTS_6B
# Linked to a 5A child but not following anything that carries announcements.
UNSUBSCRIBED_5A = {"p_unsub", "p_grades_only"}


@dataclass(frozen=True)
class GradeRow:
    name: str
    student: str
    teacher: str
    notified: frozenset[str]


GRADE_ROWS = [
    # The student and the parents following that student for grades: not the parent
    # linked without a subscription, not one following only announcements, not the
    # parents following the school or the class, not other families, not the teacher.
    GradeRow(
        "grade for s5a", "s5a", "t5a", frozenset({"s5a", "p_child", "p_all", "p_grades_only"})
    ),
    GradeRow("grade for s6b", "s6b", "t6b", frozenset({"s6b", "p_other_child"})),
    GradeRow("grade for s5a2, nobody follows her", "s5a2", "t5a", frozenset({"s5a2"})),
    # The admin posting a grade is its author and is not told about it either.
    GradeRow(
        "grade for s5a by admin",
        "s5a",
        "admin",
        frozenset({"s5a", "p_child", "p_all", "p_grades_only"}),
    ),
]


@pytest.mark.parametrize("row", GRADE_ROWS, ids=[r.name for r in GRADE_ROWS])
async def test_grade_recipients(campus: Campus, row: GradeRow) -> None:
    recipients = await grade_recipients(
        student_id=campus.id(row.student), teacher_id=campus.id(row.teacher)
    )
    assert len(recipients) == len(set(recipients)), "someone would be told twice"
    assert campus.names(recipients) == row.notified
    assert len(recipients) == len(row.notified)


@dataclass(frozen=True)
class AnnouncementRow:
    name: str
    classes: tuple[str, ...]
    roles: tuple[Role, ...]
    critical: bool
    author: str
    notified: frozenset[str]


def row(
    name: str,
    notified: set[str],
    *,
    classes: tuple[str, ...] = (),
    roles: tuple[Role, ...] = (),
    critical: bool = False,
    author: str = "admin",
) -> AnnouncementRow:
    return AnnouncementRow(name, classes, roles, critical, author, frozenset(notified))


P, S, T = Role.parent, Role.student, Role.teacher

ANNOUNCEMENT_ROWS = [
    # Whole school: every student and teacher of it (not of the other school, not the
    # author), and parents following the school, a class of it, or a child in it.
    row("whole school", WHOLE_SCHOOL_MEMBERS | WHOLE_SCHOOL_PARENTS),
    # One class: its roster and teachers, parents following the class, a child on the
    # roster or the school. Parents following only 6B or a 6B child are left out.
    row("class 5A", STAFF_5A | PARENTS_5A, classes=("5A",)),
    row("class 6B", STAFF_6B | PARENTS_6B, classes=("6B",)),
    row("classes 5A and 6B", STAFF_5A | STAFF_6B | PARENTS_5A | PARENTS_6B, classes=("5A", "6B")),
    # Roles filter the audience.
    row("class 5A, parents only", PARENTS_5A, classes=("5A",), roles=(P,)),
    row("whole school, students and teachers", WHOLE_SCHOOL_MEMBERS, roles=(S, T)),
    row("whole school, teachers only", {"t5a", "t6b", "t_none"}, roles=(T,)),
    row("whole school, students only", {"s5a", "s5a2", "s6b"}, roles=(S,)),
    row("class 6B, students and parents", {"s6b"} | PARENTS_6B, classes=("6B",), roles=(S, P)),
    # Critical: also every linked parent of a student in the audience, subscribed or not,
    # but still not parents whose children are outside it.
    row(
        "critical, class 5A",
        STAFF_5A | PARENTS_5A | UNSUBSCRIBED_5A,
        classes=("5A",),
        critical=True,
    ),
    row(
        "critical, whole school",
        WHOLE_SCHOOL_MEMBERS | WHOLE_SCHOOL_PARENTS | UNSUBSCRIBED_5A,
        critical=True,
    ),
    row("critical, class 6B", STAFF_6B | PARENTS_6B, classes=("6B",), critical=True),
    row("critical, class 5A, no parents", STAFF_5A, classes=("5A",), roles=(S, T), critical=True),
    row(
        "critical, class 5A, parents only",
        PARENTS_5A | UNSUBSCRIBED_5A,
        classes=("5A",),
        roles=(P,),
        critical=True,
    ),
    # The author is never told about their own announcement.
    row(
        "class 5A by its teacher", (STAFF_5A | PARENTS_5A) - {"t5a"}, classes=("5A",), author="t5a"
    ),
    row(
        "critical, class 6B by its teacher",
        {"s6b"} | PARENTS_6B,
        classes=("6B",),
        critical=True,
        author="t6b",
    ),
]


def _class_id(campus: Campus, name: str) -> PydanticObjectId:
    return {"5A": campus.class_5a.id, "6B": campus.class_6b.id}[name]


@pytest.mark.parametrize("row", ANNOUNCEMENT_ROWS, ids=[r.name for r in ANNOUNCEMENT_ROWS])
async def test_announcement_recipients(campus: Campus, row: AnnouncementRow) -> None:
    recipients = await announcement_recipients(
        school=campus.school,
        class_ids=[_class_id(campus, c) for c in row.classes],
        roles=list(row.roles),
        critical=row.critical,
        author_id=campus.id(row.author),
    )
    assert len(recipients) == len(set(recipients)), "someone would be told twice"
    assert campus.names(recipients) == row.notified
    assert len(recipients) == len(row.notified)


async def test_a_parent_reached_through_every_subscription_is_notified_once(
    campus: Campus,
) -> None:
    # p_all follows the school, class 5A and the child; fan the whole thing out for real.
    recipients = await announcement_recipients(
        school=campus.school,
        class_ids=[campus.class_5a.id],
        roles=[],
        critical=True,
        author_id=campus.id("admin"),
    )
    assert recipients.count(campus.id("p_all")) == 1
    event = Notice(
        key="announcement:once",
        topic="announcements",
        title="t",
        body="b",
        school_id=campus.school.id,
        payload=AnnouncementPayload(school_name="School 1", author_name="The Head"),
    )
    created = await fanout.deliver(event, recipients + recipients)
    assert created == len(recipients)
    stored = await service.Notification.find({"recipient_id": campus.id("p_all")}).to_list()
    assert len(stored) == 1
