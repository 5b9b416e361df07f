"""GET /announcements/{id}/acks.csv and .xlsx: the list as files a spreadsheet opens, in
the reader's language and time zone, names in Cyrillic intact."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx
from openpyxl import load_workbook

from app.announcements.models import Acknowledgement
from app.auth.models import Locale
from tests.announcements.acks_helpers import ASKED_IN_5A, ack_announcement
from tests.announcements.helpers import Login, announce
from tests.notifications.helpers import Campus

RUSSIAN_HEADER = ["Имя", "Класс", "Ребёнок", "Ответ", "Время"]


async def _name(campus: Campus, person: str, full_name: str, **fields: object) -> None:
    user = campus.people[person]
    user.full_name = full_name
    for field, value in fields.items():
        setattr(user, field, value)
    await user.save()


def _csv_rows(response: httpx.Response) -> list[list[str]]:
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def _xlsx_rows(response: httpx.Response) -> tuple[str, list[list[str]]]:
    workbook = load_workbook(io.BytesIO(response.content), read_only=True)
    sheet = workbook.worksheets[0]
    rows = [[cell or "" for cell in row] for row in sheet.iter_rows(values_only=True)]
    return sheet.title, [[str(cell) for cell in row] for row in rows]


async def test_a_russian_admin_downloads_the_list_in_russian_and_moscow_time(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    await _name(campus, "admin", "Анна Соколова", locale=Locale.ru, timezone="Europe/Moscow")
    await _name(campus, "p_child", "Елена Иванова")
    await _name(campus, "s5a", "Маша Иванова")
    announcement_id = await ack_announcement(client, campus, login_as, title="Экскурсия")
    parent = login_as(campus.people["p_child"])
    assert (
        await client.post(f"/announcements/{announcement_id}/ack", headers=parent)
    ).status_code == 204
    stored = await Acknowledgement.find_one({"user_id": campus.id("p_child")})
    assert stored is not None and stored.acknowledged_at is not None
    moscow = stored.acknowledged_at + timedelta(hours=3)

    admin = login_as(campus.people["admin"])
    as_csv = await client.get(f"/announcements/{announcement_id}/acks.csv", headers=admin)
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "filename*=UTF-8''" in as_csv.headers["content-disposition"]
    assert ".csv" in as_csv.headers["content-disposition"]
    header, *rows = _csv_rows(as_csv)
    assert header == RUSSIAN_HEADER
    by_name = {row[0]: row for row in rows}
    assert len(rows) == len(ASKED_IN_5A)
    name, class_name, child, answer, when = by_name["Елена Иванова"]
    assert (class_name, child, answer) == ("5A", "Маша Иванова", "прочитано")
    assert f"{moscow:%H:%M}" in when and str(moscow.year) in when
    assert any("а" <= letter <= "я" for letter in when)  # the month in Russian
    pending = [row for row in rows if row[0] != "Елена Иванова"]
    assert {row[3] for row in pending} == {"ожидается"}
    assert {row[4] for row in pending} == {""}

    as_xlsx = await client.get(f"/announcements/{announcement_id}/acks.xlsx", headers=admin)
    assert as_xlsx.status_code == 200
    title, xlsx_rows = _xlsx_rows(as_xlsx)
    assert title == "Подтверждения"
    assert xlsx_rows == [header, *rows]


async def test_an_english_author_gets_english_and_strangers_get_nothing(
    client: httpx.AsyncClient, campus: Campus, login_as: Login
) -> None:
    announcement_id = await ack_announcement(client, campus, login_as, author="t5a")
    path = f"/announcements/{announcement_id}/acks"
    author = login_as(campus.people["t5a"])
    header, *rows = _csv_rows(await client.get(f"{path}.csv", headers=author))
    assert header == ["Name", "Class", "Child", "Answer", "Time"]
    assert {row[3] for row in rows} == {"pending"}
    for name in ("t6b", "p_child", "s5a", "ao"):
        for kind in ("csv", "xlsx"):
            refused = await client.get(f"{path}.{kind}", headers=login_as(campus.people[name]))
            assert refused.status_code == 403, (name, kind)
    assert (await client.get(f"{path}.csv")).status_code == 401
    assert (await client.get(f"{path}.pdf", headers=author)).status_code == 422

    plain = await announce(client, author, campus, class_ids=[str(campus.class_5a.id)])
    answer = await client.get(f"/announcements/{plain.json()['id']}/acks.xlsx", headers=author)
    assert answer.status_code == 409
