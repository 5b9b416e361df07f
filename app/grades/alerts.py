"""Grade alerts: rules a linked parent sets per child ("a grade of 2 or lower", "a weighted
average below 3.5"), per subject. An alert fires when a rule starts to hold and stays quiet
while it keeps holding; which rules hold is stored per alert, so it fires again only after
a rule stopped holding. Evaluated from the summary's own aggregation (one per evaluation,
never a reload of every grade) whenever a grade of the child is posted, corrected or
withdrawn."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from beanie import PydanticObjectId

from app.auth import directory
from app.core.i18n import DEFAULT_LOCALE, LOCALES, format_date, translate
from app.core.security import as_utc, utcnow
from app.grades import repository, topic
from app.grades.models import GradeAlert, rounded
from app.notifications.fanout import publish
from app.notifications.models import Notice
from app.notifications.topics import Priority
from app.schools import guardians
from app.subjects.service import SubjectNames, subject_code, subject_names

AVERAGE_BELOW = "average_below"
GRADE_AT_MOST = "grade_at_most"


async def alert_of(*, parent_id: PydanticObjectId, student_id: PydanticObjectId) -> GradeAlert:
    """The parent's rules for the child (none set: an alert with no rules)."""
    found = await repository.alert_of(parent_id=parent_id, student_id=student_id)
    return found or GradeAlert(parent_id=parent_id, student_id=student_id)


async def set_alert(
    *,
    parent_id: PydanticObjectId,
    student_id: PydanticObjectId,
    grade_at_most: int | None,
    average_below: float | None,
    subjects: Iterable[str],
) -> GradeAlert:
    """Replace the parent's rules for the child. What holds is worked out afresh at once,
    without telling: a rule set while it already holds fires only after it stopped holding
    and holds again, as a parent setting "below 3.5" on a 3.2 average expects."""
    keys = sorted({subject_code(s) for s in subjects})
    alert = GradeAlert(
        parent_id=parent_id,
        student_id=student_id,
        grade_at_most=grade_at_most,
        average_below=average_below,
        subjects=keys,
    )
    alert.holding = sorted(_holding(alert, await _subject_groups(student_id)))
    return await repository.save_alert(alert)


async def _subject_groups(student_id: PydanticObjectId) -> dict[str, dict[str, Any]]:
    return {g["_id"]: g for g in await repository.subject_groups({"student_id": student_id})}


def _holding(alert: GradeAlert, groups: dict[str, dict[str, Any]]) -> set[str]:
    """The rules of `alert` that hold on these per-subject figures."""
    held: set[str] = set()
    for key, group in groups.items():
        if alert.subjects and key not in alert.subjects:
            continue
        if alert.grade_at_most is not None and group["last_value"] <= alert.grade_at_most:
            held.add(f"{GRADE_AT_MOST}:{key}")
        average = _weighted(group)
        below = alert.average_below
        if below is not None and average is not None and average < below:
            held.add(f"{AVERAGE_BELOW}:{key}")
    return held


def _weighted(group: dict[str, Any]) -> float | None:
    return rounded(group["weighted_sum"] / group["weight_sum"]) if group["weight_sum"] else None


async def evaluate(
    student_id: PydanticObjectId, *, school_id: PydanticObjectId, now: datetime | None = None
) -> int:
    """Work out the child's alerts again after a change to their grades, and tell each
    linked parent of every rule that began to hold. Returns how many alerts fired."""
    alerts = await repository.alerts_for(student_id)
    if not alerts:
        return 0
    groups = await _subject_groups(student_id)
    linked = set(await guardians.parents_of([student_id]))
    names = await directory.full_names([student_id])
    subjects = await subject_names(school_id)
    moment = now or utcnow()
    fired = 0
    for alert in alerts:
        now_holding = sorted(_holding(alert, groups))
        if now_holding == alert.holding:
            continue
        # Only the evaluation that moves the stored state tells: two grades evaluated at
        # once cannot both fire the same crossing.
        if not await repository.move_holding(alert, now_holding, now=moment):
            continue
        if alert.parent_id not in linked:
            continue
        for rule in sorted(set(now_holding) - set(alert.holding)):
            await publish(
                _alert_notice(
                    alert,
                    rule,
                    groups,
                    student_name=names.get(student_id, "—"),
                    subjects=subjects,
                    school_id=school_id,
                    moment=moment,
                )
            )
            fired += 1
    return fired


def _alert_words(locale: str, rule: str, data: topic.GradePayload) -> tuple[str, str]:
    student, subject = data.student_name, data.subject_names.get(locale) or data.subject
    if rule == AVERAGE_BELOW:
        return (
            translate(
                locale,
                "inbox.alert_average",
                student=student,
                subject=subject,
                threshold=data.threshold,
            ),
            translate(locale, "inbox.alert_average_body", subject=subject, average=data.average),
        )
    day = format_date(dt.date.fromisoformat(data.date), locale)
    return (
        translate(
            locale,
            "inbox.alert_grade",
            student=student,
            subject=subject,
            threshold=data.threshold,
        ),
        translate(locale, "inbox.alert_grade_body", value=data.value, subject=subject, date=day),
    )


def _alert_notice(
    alert: GradeAlert,
    held: str,
    groups: dict[str, dict[str, Any]],
    *,
    student_name: str,
    subjects: SubjectNames,
    school_id: PydanticObjectId,
    moment: datetime,
) -> Notice:
    rule, key = held.split(":", 1)
    group = groups[key]
    threshold = alert.average_below if rule == AVERAGE_BELOW else alert.grade_at_most
    payload = topic.GradePayload(
        student_id=str(alert.student_id),
        student_name=student_name,
        subject=group["subject"],
        subject_names={locale: subjects.name(group["subject"], locale) for locale in LOCALES},
        value=group["last_value"],
        kind="",
        date=as_utc(group["last_date"]).date().isoformat(),
        alert=rule,
        threshold=threshold,
        average=_weighted(group),
    )
    texts = {locale: _alert_words(locale, rule, payload) for locale in LOCALES}
    return Notice(
        # One crossing, one notice: the time the state moved tells crossings apart.
        key=f"grade-alert:{alert.id}:{held}:{int(as_utc(moment).timestamp() * 1000)}",
        topic=topic.NAME,
        priority=Priority.high,
        title=texts[DEFAULT_LOCALE][0],
        body=texts[DEFAULT_LOCALE][1],
        texts=texts,
        recipients=[alert.parent_id],
        school_id=school_id,
        payload=payload,
    )
