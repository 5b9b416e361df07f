"""The timetable producer as the app plugs it in (listed in app/producers.py)."""

from app.notifications.plugs import Producer
from app.timetable import notices  # noqa: F401  (registers the change notice job)
from app.timetable.models import ClassTimetable, TimetableChange
from app.timetable.router import router
from app.timetable.topic import TOPIC

PRODUCER = Producer(
    name="timetable",
    topics=[TOPIC],
    documents=[ClassTimetable, TimetableChange],
    routers=[router],
)
