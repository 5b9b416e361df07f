"""Exports open in Excel and LibreOffice as people expect: Cyrillic intact, typed text as text."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from openpyxl import load_workbook

from app.core.spreadsheets import Cell, spreadsheet_response

HEADER = ["Имя", "Ответ", "Гости", "Когда"]
ROWS: list[list[Cell]] = [
    ["Мария Иванова", "приду", 2, "07.12.2026 18:30"],
    ['=HYPERLINK("http://example.org")', "-не приду", 0, datetime(2026, 12, 7, 18, 30)],
]


def test_a_csv_starts_with_the_utf8_mark_and_keeps_cyrillic_and_typed_text_as_text() -> None:
    response = spreadsheet_response("csv", "Собрание 5А", HEADER, ROWS)
    assert bytes(response.body).startswith("\ufeff".encode())
    assert response.media_type == "text/csv; charset=utf-8"
    read = list(csv.reader(io.StringIO(bytes(response.body).decode("utf-8-sig"))))
    assert read[0] == HEADER
    assert read[1] == ["Мария Иванова", "приду", "2", "07.12.2026 18:30"]
    # What a spreadsheet would run as a formula arrives as the text that was typed.
    assert read[2][:2] == ['\'=HYPERLINK("http://example.org")', "'-не приду"]
    assert read[2][3] == "2026-12-07T18:30:00"


def test_an_xlsx_opens_with_the_same_rows_and_runs_no_formula() -> None:
    response = spreadsheet_response("xlsx", "Собрание 5А", HEADER, ROWS, sheet="Ответы")
    workbook = load_workbook(io.BytesIO(bytes(response.body)))
    sheet = workbook["Ответы"]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == HEADER
    assert rows[1] == ["Мария Иванова", "приду", 2, "07.12.2026 18:30"]
    assert rows[2][0] == '=HYPERLINK("http://example.org")'
    assert sheet["A3"].data_type == "s"
    assert rows[2][3] == datetime(2026, 12, 7, 18, 30)


def test_the_download_is_named_in_any_language() -> None:
    disposition = spreadsheet_response("xlsx", "Собрание 5А", HEADER, []).headers[
        "content-disposition"
    ]
    assert disposition.startswith('attachment; filename="')
    assert "filename*=UTF-8''%D0%A1%D0%BE%D0%B1%D1%80%D0%B0%D0%BD%D0%B8%D0%B5%205%D0%90.xlsx" in (
        disposition
    )
