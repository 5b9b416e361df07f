"""POST /schools/{school_id}/import: a school's people from one CSV or XLSX file."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import JSONResponse

from app.auth.access import CurrentUser
from app.core.deps import SettingsDep
from app.core.i18n import translate
from app.onboarding import service
from app.onboarding.schemas import Created, ImportReport, RowError
from app.schools.access import AdminSchool

router = APIRouter(tags=["schools"])


def _report(outcome: service.Outcome, locale: str) -> ImportReport:
    return ImportReport(
        rows=outcome.rows,
        created=Created(**outcome.created),
        unchanged=outcome.unchanged,
        errors=[
            RowError(
                row=p.row,
                column=p.column,
                message=translate(locale, p.key, **dict(p.params)),
            )
            for p in outcome.problems
        ],
    )


@router.post(
    "/schools/{school_id}/import",
    operation_id="importPeople",
    response_model=ImportReport,
    responses={422: {"model": ImportReport, "description": "Bad rows, each said; nothing written"}},
)
async def import_people(
    school: AdminSchool,
    admin: CurrentUser,
    settings: SettingsDep,
    file: Annotated[
        UploadFile, File(description="CSV (UTF-8, comma or semicolon) or XLSX, header row first")
    ],
    dry_run: Annotated[bool, Query(description="Answer what would happen; write nothing")] = False,
) -> ImportReport | JSONResponse:
    """Bring a school's students, teachers and admins in from a CSV (UTF-8, comma or
    semicolon) or XLSX file with the columns role, full_name, email, class, subjects,
    parent_emails, locale. New accounts are mailed an invitation, parents a guardian code."""
    content = await file.read()
    outcome = await service.import_people(
        settings=settings, admin=admin, school=school, content=content, dry_run=dry_run
    )
    report = _report(outcome, admin.locale.value)
    if report.errors:
        return JSONResponse(report.model_dump(), status_code=422)
    return report
