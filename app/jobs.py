"""Every background job, registered by importing the service modules that define them.

Imported for that effect by the API, the workers and beat, so each knows every job by name.
"""

from app import producers  # noqa: F401  (each producer's jobs and the topics they publish on)
from app.delivery import service as delivery_service  # noqa: F401
from app.notifications import digests as digests_service  # noqa: F401
