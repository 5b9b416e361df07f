"""The attendance producer as the app plugs it in (listed in app/producers.py)."""

from app.attendance import notices  # noqa: F401  (registers the absence notice job)
from app.attendance.models import AbsenceNote, AttendanceMark
from app.attendance.router import router
from app.attendance.topic import TOPIC
from app.notifications.plugs import Producer

PRODUCER = Producer(
    name="attendance", topics=[TOPIC], documents=[AttendanceMark, AbsenceNote], routers=[router]
)
