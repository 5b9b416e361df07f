"""Every background job, registered by importing the service modules that define them.

Imported for that effect by the API, the workers and beat, so each knows every job by name.
"""

from app import producers  # noqa: F401  (their topics, which the jobs publish on)
from app.announcements import service as announcements_service  # noqa: F401
from app.delivery import service as delivery_service  # noqa: F401
from app.grades import notices as grade_notices  # noqa: F401
from app.notifications import digests as digests_service  # noqa: F401
