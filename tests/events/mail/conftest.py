"""Event emails go through the delivery tests' real SMTP server (aiosmtpd)."""

from tests.delivery.conftest import settings, smtp_server

__all__ = ["settings", "smtp_server"]
