"""Reading the file an admin uploads: CSV (UTF-8 with or without a BOM, comma or semicolon,
as Excel saves it in English or Russian settings) or XLSX, into rows of named cells.

Row numbers are the spreadsheet's own (the header is row 1), so an admin finds a reported
row where their program shows it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

COLUMNS = ("role", "full_name", "email", "class", "subjects", "parent_emails", "locale")
REQUIRED_COLUMNS = ("role", "full_name")
MAX_ROWS = 2000
# Every XLSX file is a ZIP archive, which starts so.
ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class Problem:
    """Something wrong at a row and column, said as a catalogue key and its values."""

    row: int
    column: str
    key: str
    params: tuple[tuple[str, Any], ...] = ()


class UnreadableSheet(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems


@dataclass(frozen=True)
class SheetRow:
    number: int
    cells: dict[str, str]


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a class typed as 5 reads 5, not 5.0
    return str(value).strip()


def _csv_table(content: bytes) -> list[list[str]]:
    try:
        # utf-8-sig drops the BOM Excel writes, and reads a file without one alike.
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableSheet([Problem(0, "", "import.not_utf8")]) from exc
    header = text.split("\n", 1)[0]
    # Excel in Russian settings separates with semicolons, in English with commas.
    delimiter = ";" if header.count(";") > header.count(",") else ","
    return [
        [cell.strip() for cell in row] for row in csv.reader(io.StringIO(text), delimiter=delimiter)
    ]


def _xlsx_table(content: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged or foreign file
        raise UnreadableSheet([Problem(0, "", "import.unreadable")]) from exc
    try:
        sheet = workbook.worksheets[0]
        return [
            [_cell_text(v) for v in row]
            for row in sheet.iter_rows(values_only=True, max_row=MAX_ROWS + 2)
        ]
    finally:
        workbook.close()


def read_sheet(content: bytes) -> list[SheetRow]:
    """The non-empty rows under the header, each cell under its column's name."""
    table = _xlsx_table(content) if content.startswith(ZIP_MAGIC) else _csv_table(content)
    if not table or not any(table[0]):
        raise UnreadableSheet([Problem(1, "", "import.empty_file")])
    header = [name.strip().lower() for name in table[0]]
    problems = [
        Problem(1, name, "import.unknown_column", (("columns", ", ".join(COLUMNS)),))
        for name in header
        if name and name not in COLUMNS
    ]
    problems += [
        Problem(1, name, "import.missing_column") for name in REQUIRED_COLUMNS if name not in header
    ]
    rows = [
        SheetRow(number, {name: row[i] if i < len(row) else "" for i, name in enumerate(header)})
        for number, row in enumerate(table[1:], start=2)
        if any(cell for cell in row)
    ]
    if len(rows) > MAX_ROWS:
        problems.append(Problem(MAX_ROWS + 2, "", "import.too_many_rows", (("limit", MAX_ROWS),)))
    if not rows and not problems:
        problems.append(Problem(2, "", "import.no_rows"))
    if problems:
        raise UnreadableSheet(problems)
    return rows
