"""The grades producer as the app plugs it in (listed in app/producers.py)."""

from app.grades import notices  # noqa: F401  (registers the grade notice jobs)
from app.grades.models import Grade, GradeAlert
from app.grades.router import router
from app.grades.topic import TOPIC
from app.notifications.plugs import Producer

PRODUCER = Producer(name="grades", topics=[TOPIC], documents=[Grade, GradeAlert], routers=[router])
