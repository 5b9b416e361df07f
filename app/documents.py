"""Every Beanie document, registered once with the database at start."""

from beanie import Document

from app import producers  # noqa: F401  (every process that opens the database has the topics)
from app.announcements.models import Announcement
from app.auth.models import AccountToken, AuthSession, RefreshToken, User
from app.core.jobs import JobRecord
from app.core.migrations import MigrationRecord
from app.delivery.models import Email
from app.grades.models import Grade
from app.notifications.models import Notification, NotificationSettings, Subscription
from app.schools.models import GuardianCode, GuardianLink, School

DOCUMENT_MODELS: list[type[Document]] = [
    User,
    AuthSession,
    RefreshToken,
    AccountToken,
    School,
    GuardianLink,
    GuardianCode,
    Grade,
    Subscription,
    Notification,
    NotificationSettings,
    Announcement,
    Email,
    JobRecord,
    MigrationRecord,
]
