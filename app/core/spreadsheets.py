"""Lists handed to people as files: CSV that Excel opens with Cyrillic intact, and XLSX.

Cells hold what families and staff typed (comments, names), so text that a spreadsheet would
run as a formula is written as text: a parent's comment "=HYPERLINK(...)" stays a comment.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Literal
from urllib.parse import quote

from fastapi import Response
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import Cell as SheetCell
from openpyxl.utils import get_column_letter

SpreadsheetKind = Literal["csv", "xlsx"]

MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# Excel reads a UTF-8 file as the local code page unless it starts with this mark.
UTF8_BOM = "\ufeff"
# What spreadsheet programs take as the start of a formula (OWASP's list).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_WIDEST_COLUMN = 60

Cell = str | int | float | bool | date | datetime | None


def _as_text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _csv_cell(value: Cell) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        return _as_text(value)
    return value


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    buffer = io.StringIO()
    buffer.write(UTF8_BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_csv_cell(name) for name in header])
    for row in rows:
        writer.writerow([_csv_cell(value) for value in row])
    return buffer.getvalue().encode("utf-8")


def xlsx_bytes(header: Sequence[str], rows: Iterable[Sequence[Cell]], *, sheet: str) -> bytes:
    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(title=sheet[:31])
    widths = [len(name) for name in header]
    table = [list(row) for row in rows]
    for row in table:
        for column, value in enumerate(row[: len(widths)]):
            widths[column] = max(widths[column], len(str(value or "")))
    for column, width in enumerate(widths, start=1):
        worksheet.column_dimensions[get_column_letter(column)].width = min(
            width + 2, _WIDEST_COLUMN
        )
    worksheet.freeze_panes = "A2"

    def cells(row: Sequence[Cell]) -> list[SheetCell]:
        written = []
        for value in row:
            cell = WriteOnlyCell(worksheet, value=value)  # type: ignore[arg-type]  # dates too
            if isinstance(value, str):
                # openpyxl stores "=..." as a formula; a typed text must stay text.
                cell.data_type = "s"
            written.append(cell)
        return written

    worksheet.append(cells(header))
    for row in table:
        worksheet.append(cells(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def spreadsheet_response(
    kind: SpreadsheetKind,
    filename: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    sheet: str = "Sheet1",
) -> Response:
    """The file as a download named `filename` (without its extension; any language)."""
    body = csv_bytes(header, rows) if kind == "csv" else xlsx_bytes(header, rows, sheet=sheet)
    name = f"{filename}.{kind}"
    fallback = name.encode("ascii", "replace").decode("ascii").replace("?", "_").replace('"', "_")
    disposition = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    return Response(
        content=body,
        media_type=MEDIA_TYPES[kind],
        headers={"Content-Disposition": disposition},
    )
