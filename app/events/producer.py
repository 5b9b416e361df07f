"""The events producer as the app plugs it in (listed in app/producers.py)."""

from app.events import notices  # noqa: F401  (registers the notice and reminder jobs)
from app.events.models import CalendarFeed, Event, Rsvp
from app.events.pages import router as pages
from app.events.router import router
from app.events.topic import TOPIC
from app.notifications.plugs import Producer

PRODUCER = Producer(
    name="events",
    topics=[TOPIC],
    documents=[Event, Rsvp, CalendarFeed],
    routers=[router],
    pages=[pages],
)
