"""The classes a student sits in, as the readers of their school day need them, with the
student and their parents read in the same round trip (who may read is schools.access's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from beanie import PydanticObjectId

from app.auth import directory
from app.auth.models import User
from app.schools import repository


@dataclass(frozen=True)
class Seat:
    """A class a student sits in, with what a reader of their week needs of its school."""

    school_id: PydanticObjectId
    school_timezone: str
    class_id: PydanticObjectId
    class_name: str
    teacher_ids: frozenset[PydanticObjectId] = frozenset()

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> Seat:
        return cls(
            school_id=PydanticObjectId(row["_id"]),
            school_timezone=row.get("timezone") or "UTC",
            class_id=PydanticObjectId(row["class_id"]),
            class_name=row["class_name"],
            teacher_ids=frozenset(PydanticObjectId(t) for t in row.get("teacher_ids") or []),
        )


async def seats_of(student_id: PydanticObjectId) -> list[Seat]:
    """The classes of live schools that seat the student, in one query."""
    return [Seat.of_row(row) for row in await repository.seats_of(student_id)]


@dataclass(frozen=True)
class StudentAndSeats:
    """A student (None when there is no live one), the classes of live schools that seat
    them, and the parents linked to them."""

    student: User | None
    seats: list[Seat]
    parent_ids: frozenset[PydanticObjectId]


async def student_and_seats(student_id: PydanticObjectId) -> StudentAndSeats:
    """The student, their seats and their parents, in one round trip (the student asked of
    auth's directory inside this domain's aggregation)."""
    found = await repository.student_seats_and_links(
        student_id,
        student_stages=directory.user_stages("student_id", into=repository.STUDENT_INTO),
    )
    return StudentAndSeats(
        student=directory.live_user_in(found[repository.STUDENT_INTO]),
        seats=[Seat.of_row(row) for row in found["seats"]],
        parent_ids=frozenset(PydanticObjectId(link["parent_id"]) for link in found["links"]),
    )
