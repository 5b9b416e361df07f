"""The attendance tests send to a real SMTP server (aiosmtpd), as the delivery tests do:
parents' mail is the point."""

from tests.delivery.conftest import settings, smtp_server

__all__ = ["settings", "smtp_server"]
