"""Every background job, registered by importing the service modules that define them."""

from app.announcements import service as announcements_service
from app.delivery import service as delivery_service
from app.notifications import digests as digests_service
from app.notifications import events as notification_events

JOB_MODULES = (announcements_service, delivery_service, digests_service, notification_events)
