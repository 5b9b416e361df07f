"""Typed settings read from the environment (see .env.example)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_JWT_SECRET_LENGTH = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    mongodb_url: str | None = None
    mongodb_db: str = "schoolbell"
    redis_url: str | None = None
    jwt_secret: str | None = None
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    public_base_url: str = "http://127.0.0.1:8000"
    data_dir: Path = Field(default=Path(".schoolbell"), alias="SCHOOLBELL_DATA_DIR")

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    mail_from: str = "Schoolbell <no-reply@schoolbell.local>"

    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: str | None = None

    login_rate_per_account: str = "10/minute"
    # A quarter of what one hashing slot checks in a minute on a two-core box (bench/logins.py):
    # loose enough for a school's families behind one address, never the whole capacity.
    login_rate_per_client: str = "120/minute"
    # Tight per address being registered, looser per client: a school's parents may register
    # from one shared address on the evening the codes go home.
    register_rate_per_email: str = "3/hour"
    register_rate_per_client: str = "30/hour"
    password_reset_rate: str = "5/hour"
    announcement_rate: str = "30/hour"
    email_rate_per_second: int = Field(default=20, ge=1)
    max_body_bytes: int = 1024 * 1024
    # Reverse proxies whose X-Forwarded-For names the real client (comma-separated addresses
    # or networks, "*" for any). Behind an untrusted hop every client would share one
    # rate-limit bucket, so name the proxy in front of the API here.
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"]
    )

    @field_validator("cors_origins", "forwarded_allow_ips", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _refuse_wildcard(cls, value: list[str]) -> list[str]:
        if "*" in value:
            # Credentials (bearer tokens) must never be readable by any origin.
            raise ValueError("CORS_ORIGINS must list origins explicitly; '*' is refused")
        return value

    def require_production_ready(self) -> None:
        """Refuse to run against a real database with unsafe settings."""
        if not self.mongodb_url:
            raise ValueError("MONGODB_URL is required for `schoolbell api`")
        if not self.jwt_secret or len(self.jwt_secret) < MIN_JWT_SECRET_LENGTH:
            raise ValueError(
                f"JWT_SECRET must be at least {MIN_JWT_SECRET_LENGTH} characters outside dev"
            )

    @property
    def secret(self) -> str:
        if not self.jwt_secret:
            raise RuntimeError("JWT_SECRET is not configured")
        return self.jwt_secret


_active: Settings | None = None


def get_settings() -> Settings:
    """The settings this process runs with: from the environment, unless `use_settings` chose."""
    global _active
    if _active is None:
        _active = Settings()
    return _active


def use_settings(settings: Settings) -> None:
    """Make `settings` what services and jobs of this process read (create_app calls it)."""
    global _active
    _active = settings
