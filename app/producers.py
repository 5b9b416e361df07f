"""Every producer, listed once: their topics are registered with the notification engine when
this is imported, and the database (app/documents.py), the API (app/main.py) and the
workers (app/jobs.py) take their documents, routes and jobs from this list.

A new producer declares a `Producer` in its own package (`app/<name>/producer.py`) and adds
one line here.
"""

from app.announcements.producer import PRODUCER as ANNOUNCEMENTS
from app.attendance.producer import PRODUCER as ATTENDANCE
from app.events.producer import PRODUCER as EVENTS
from app.grades.producer import PRODUCER as GRADES
from app.homework.producer import PRODUCER as HOMEWORK
from app.messages.producer import PRODUCER as MESSAGES
from app.notifications.plugs import Producer
from app.notifications.topics import register_all
from app.onboarding.producer import PRODUCER as ONBOARDING
from app.reports.producer import PRODUCER as REPORTS
from app.timetable.producer import PRODUCER as TIMETABLE

PRODUCERS: list[Producer] = [
    GRADES,
    ANNOUNCEMENTS,
    EVENTS,
    TIMETABLE,
    HOMEWORK,
    ATTENDANCE,
    MESSAGES,
    REPORTS,
    ONBOARDING,
]

register_all([topic for producer in PRODUCERS for topic in producer.topics])
