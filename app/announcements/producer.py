"""The announcements producer as the app plugs it in (listed in app/producers.py)."""

from app.announcements import service  # noqa: F401  (registers the fan-out and publish jobs)
from app.announcements.models import Acknowledgement, Announcement
from app.announcements.pages import router as pages
from app.announcements.router import router
from app.announcements.topic import TOPIC
from app.notifications.plugs import Producer

PRODUCER = Producer(
    name="announcements",
    topics=[TOPIC],
    documents=[Announcement, Acknowledgement],
    routers=[router],
    pages=[pages],
)
