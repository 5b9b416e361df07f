"""Every Beanie document, registered once with the database at start."""

from beanie import Document

from app.auth.models import AccountToken, AuthSession, RefreshToken, User
from app.core.jobs import JobRecord
from app.core.migrations import MigrationRecord
from app.delivery.models import Email
from app.notifications.models import Fanout, Notification, NotificationSettings, Subscription
from app.producers import PRODUCERS
from app.schools.models import GuardianCode, GuardianLink, School
from app.subjects.models import Subject

DOCUMENT_MODELS: list[type[Document]] = [
    User,
    AuthSession,
    RefreshToken,
    AccountToken,
    School,
    GuardianLink,
    GuardianCode,
    Subject,
    Subscription,
    Notification,
    NotificationSettings,
    Fanout,
    Email,
    JobRecord,
    MigrationRecord,
    *(document for producer in PRODUCERS for document in producer.documents),
]
