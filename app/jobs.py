"""Every background job, registered by importing the service modules that define them."""

from app.announcements import service as announcements_service
from app.notifications import events as notification_events

JOB_MODULES = (announcements_service, notification_events)
