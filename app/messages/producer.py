"""The messages producer as the app plugs it in (listed in app/producers.py)."""

from app.messages import notices  # noqa: F401  (registers the new-message notice job)
from app.messages.models import Conversation, Message
from app.messages.router import router
from app.messages.topic import TOPIC
from app.notifications.plugs import Producer

PRODUCER = Producer(
    name="messages", topics=[TOPIC], documents=[Conversation, Message], routers=[router]
)
