"""Onboarding as the app plugs it in (listed in app/producers.py): routes and strings only."""

from pathlib import Path

from app.core.i18n import add_catalogue
from app.notifications.plugs import Producer
from app.onboarding.router import router

add_catalogue(Path(__file__).parent / "locales")

PRODUCER = Producer(name="onboarding", routers=[router])
