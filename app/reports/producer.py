"""Reports as the app plugs them in (listed in app/producers.py): routes only, no topic."""

from app.notifications.plugs import Producer
from app.reports.classes import router as classes_router
from app.reports.router import router

PRODUCER = Producer(name="reports", routers=[router, classes_router])
