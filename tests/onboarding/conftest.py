"""Helpers for the import tests: files as an admin's spreadsheet program writes them."""

from __future__ import annotations

import io
from typing import Any

import httpx

from app.onboarding.spreadsheet import COLUMNS
from app.schools.models import School

Row = dict[str, str]


def teacher(name: str, email: str, klass: str = "", subjects: str = "") -> Row:
    return {
        "role": "teacher",
        "full_name": name,
        "email": email,
        "class": klass,
        "subjects": subjects,
    }


def student(name: str, klass: str, email: str = "", parents: str = "", locale: str = "") -> Row:
    return {
        "role": "student",
        "full_name": name,
        "email": email,
        "class": klass,
        "parent_emails": parents,
        "locale": locale,
    }


def csv_bytes(rows: list[Row], *, delimiter: str = ",", bom: bool = False) -> bytes:
    lines = [delimiter.join(COLUMNS)]
    lines += [delimiter.join(row.get(c, "") for c in COLUMNS) for row in rows]
    text = "\r\n".join(lines) + "\r\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


def xlsx_bytes(rows: list[Row]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append([row.get(c, "") or None for c in COLUMNS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def upload(
    client: httpx.AsyncClient,
    school_id: Any,
    content: bytes,
    headers: dict[str, str],
    *,
    dry_run: bool = False,
    filename: str = "people.csv",
) -> httpx.Response:
    return await client.post(
        f"/schools/{school_id}/import",
        params={"dry_run": "true"} if dry_run else {},
        files={"file": (filename, content, "application/octet-stream")},
        headers=headers,
    )


async def stored_school(school_id: Any) -> School:
    school = await School.get(school_id)
    assert school is not None
    return school
