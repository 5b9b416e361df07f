"""Event emails through a real SMTP server (aiosmtpd): the invitation with its .ics, the
one-click answer buttons and the pages they open, a reminder, and Russian wording."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage

import httpx
from beanie import PydanticObjectId
from icalendar import Calendar

from app.auth.models import Locale
from app.core.config import Settings
from app.core.security import utcnow
from app.events import notices
from app.events.models import Event, Rsvp
from app.notifications.links import preferences_token
from tests.conftest import UserFactory, World
from tests.delivery.conftest import CountingSmtpServer
from tests.delivery.helpers import html_of, only_message_to, received_by, text_of
from tests.events.helpers import Login, answer, create_event, family, meeting
from tests.pages import english_words, visible_text

ANSWER_LINK = re.compile(r"http://testserver(/events/answer\?token=[\w.\-%]+)")


def answer_links(message: EmailMessage) -> tuple[str, str]:
    found = ANSWER_LINK.findall(text_of(message))
    assert len(found) == 2, text_of(message)
    assert set(found) <= set(ANSWER_LINK.findall(html_of(message).replace("&amp;", "&")))
    return found[0], found[1]


def invitation_of(message: EmailMessage) -> Calendar:
    files = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert len(files) == 1
    assert files[0].get_filename() == "event.ics"
    return Calendar.from_ical(files[0].get_content())


async def test_the_invitation_names_the_time_in_the_readers_zone_and_carries_an_ics(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    smtp_server: CountingSmtpServer,
) -> None:
    parent = await family(world, make_user, timezone="Asia/Yekaterinburg")
    body = meeting(
        world, starts_at="2030-03-04T15:00:00+00:00", ends_at="2030-03-04T16:00:00+00:00"
    )
    event = await create_event(client, login_as(world.admin), body)

    message = only_message_to(smtp_server, parent.email)
    assert message["Subject"] == "Invitation: Parents' meeting"
    assert "When: 4 March 2030, 20:00" in text_of(message)  # 15:00 UTC in Yekaterinburg
    assert "Where: Room 12" in text_of(message)
    entries = invitation_of(message).walk("VEVENT")
    assert len(entries) == 1
    assert str(entries[0]["UID"]) == f"{event['id']}@events.schoolbell"
    assert str(entries[0]["SUMMARY"]) == "Parents' meeting"
    assert entries[0]["SEQUENCE"] == 0
    assert answer_links(message)


async def test_the_buttons_open_a_page_that_answers_only_when_confirmed(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    smtp_server: CountingSmtpServer,
    settings: Settings,
) -> None:
    parent = await family(world, make_user)
    event = await create_event(client, login_as(world.admin), meeting(world, capacity=20))
    yes_link, no_link = answer_links(only_message_to(smtp_server, parent.email))

    shown = await site.get(yes_link)
    assert shown.status_code == 200
    assert "Yes, I'll come" in visible_text(shown.text)
    assert await Rsvp.find({"user_id": parent.id}).count() == 0  # a GET changes nothing

    token = yes_link.split("token=")[1]
    confirmed = await site.post("/events/answer", data={"token": token})
    assert confirmed.status_code == 200
    assert "You are on the list" in visible_text(confirmed.text)
    mine = await Rsvp.find_one({"user_id": parent.id})
    assert mine is not None and mine.answer == "yes" and mine.status == "confirmed"
    assert mine.student_ids == [world.student.id]  # the family's invited child comes

    declined = await site.post("/events/answer", data={"token": no_link.split("token=")[1]})
    assert "cannot come" in visible_text(declined.text)
    shown_event = await client.get(f"/events/{event['id']}", headers=login_as(parent))
    assert shown_event.json()["places_left"] == 20

    forged = await site.post("/events/answer", data={"token": token[:-4] + "AAAA"})
    assert forged.status_code == 400
    other_purpose = preferences_token(settings=settings, user_id=parent.id)  # type: ignore[arg-type]
    assert (await site.get("/events/answer", params={"token": other_purpose})).status_code == 400

    await client.delete(f"/events/{event['id']}", headers=login_as(world.admin))
    closed = await site.get(yes_link)
    assert closed.status_code == 409
    assert "cancelled" in visible_text(closed.text)


async def test_a_reminder_reaches_the_yes_answerer_once(
    client: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    smtp_server: CountingSmtpServer,
) -> None:
    event = await create_event(client, login_as(world.admin), meeting(world))
    coming = await family(world, make_user)
    not_coming = await family(world, make_user)
    await answer(client, event["id"], login_as(coming), answer="yes")
    await answer(client, event["id"], login_as(not_coming), answer="no")

    # Two days pass: the meeting now starts in under 24 hours, and its reminder is due.
    soon = utcnow() + timedelta(hours=23, minutes=50)
    await Event.find_one(Event.id == PydanticObjectId(event["id"])).update(
        {
            "$set": {
                "starts_at": soon,
                "ends_at": soon + timedelta(hours=1),
                "next_reminder_at": utcnow(),
            }
        }
    )
    await notices.remind_due()
    await notices.remind_due(now=utcnow() + notices.REMINDER_LEASE)

    reminders = [m for m in received_by(smtp_server, coming.email) if "24 hours" in m["Subject"]]
    assert len(reminders) == 1
    assert reminders[0]["Subject"] == "In 24 hours: Parents' meeting"
    assert "Starts in 24 hours." in text_of(reminders[0])
    assert received_by(smtp_server, not_coming.email) == []


async def test_a_russian_event_email_has_no_latin_words_but_the_authors(
    client: httpx.AsyncClient,
    site: httpx.AsyncClient,
    world: World,
    login_as: Login,
    make_user: UserFactory,
    smtp_server: CountingSmtpServer,
) -> None:
    parent = await family(world, make_user, locale=Locale.ru, timezone="Europe/Moscow")
    body = meeting(
        world,
        title="Parents meeting",
        place="Room twelve",
        description="Bring notebooks",
        starts_at="2030-12-01T15:00:00+00:00",
        ends_at="2030-12-01T16:00:00+00:00",
    )
    await create_event(client, login_as(world.admin), body)
    message = only_message_to(smtp_server, parent.email)

    authors = {"Parents", "meeting", "Room", "twelve", "Bring", "notebooks", "School", "Admin"}
    assert "1 декабря 2030, 18:00" in text_of(message)
    assert "Приглашение" in str(message["Subject"])
    for text in (text_of(message), html_of(message), str(message["Subject"])):
        assert set(english_words(text)) - authors == set(), text
    yes_link, _ = answer_links(message)
    page = await site.get(yes_link)
    assert set(english_words(page.text)) - authors == set()
    assert "Да, я приду" in visible_text(page.text)
