"""Reports as the app plugs them in (listed in app/producers.py): routes only, no topic."""

from app.notifications.plugs import Producer
from app.reports.router import router

PRODUCER = Producer(name="reports", routers=[router])
