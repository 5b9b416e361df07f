"""Every producer's topics, registered with the notification engine when this is imported.

A new producer declares its topics in its own package and adds one line here; the engine
(preferences, digests, the preference centre, unsubscribe, OpenAPI) follows the registry.
"""

from app.announcements.topic import TOPIC as ANNOUNCEMENTS
from app.grades.topic import TOPIC as GRADES
from app.notifications.topics import register_all

register_all([GRADES, ANNOUNCEMENTS])
