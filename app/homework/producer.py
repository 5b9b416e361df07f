"""The homework producer as the app plugs it in (listed in app/producers.py)."""

from app.homework import notices  # noqa: F401  (registers the homework notice job)
from app.homework.models import Homework
from app.homework.router import router
from app.homework.topic import TOPIC
from app.notifications.plugs import Producer

PRODUCER = Producer(name="homework", topics=[TOPIC], documents=[Homework], routers=[router])
