"""The demo school's week: a parent of a 5A pupil reads this week's timetable with
Wednesday's literature cancelled and the subjects in Russian; a parent of 6B only sees
6B's week and none of 5A's."""

from __future__ import annotations

import datetime as dt

import httpx

from app.auth.models import User
from app.demo import DEMO_TIMEZONE, load_demo
from app.timetable.weeks import today_in
from tests.timetable.helpers import Login, iso_week


async def person(email: str) -> User:
    found = await User.find_one({"email": email})
    assert found is not None
    return found


async def test_a_parent_reads_this_weeks_demo_timetable_with_wednesdays_change(
    client: httpx.AsyncClient, login_as: Login
) -> None:
    assert await load_demo()
    elena = await person("parent.ivanova@demo.example.org")
    masha = await person("masha@demo.example.org")
    maria = await person("parent.orlova@demo.example.org")
    today = today_in(DEMO_TIMEZONE)
    response = await client.get(f"/students/{masha.id}/timetable", headers=login_as(elena))
    assert response.status_code == 200, response.text
    week = response.json()
    assert week["week"] == iso_week(today)
    wednesday = today + dt.timedelta(days=3 - today.isoweekday())
    (day,) = [d for d in week["days"] if d["date"] == wednesday.isoformat()]
    names = [(x["period"], x["subject_name"], x["cancelled"]) for x in day["lessons"]]
    assert names == [(1, "Математика", False), (2, "Русский язык", False), (3, "Литература", True)]
    assert day["lessons"][2]["change"]["kinds"] == ["cancelled"]
    changed = [x for d in week["days"] for x in d["lessons"] if x["change"] is not None]
    assert len(changed) == 1
    # A parent of 6B may not read a 5A pupil's week.
    refused = await client.get(f"/students/{masha.id}/timetable", headers=login_as(maria))
    assert refused.status_code == 403
