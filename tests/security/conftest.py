"""The accounts tests' app builder serves the security tests too."""

from tests.auth.conftest import app_client  # noqa: F401  (a fixture, used by name)
