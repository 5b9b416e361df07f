"""Typed settings read from the environment (see .env.example), each checked at start.

Every setting has a kind (`app/core/setting_kinds.py`: a whole number in a range, a rate, a
URL, an address...) whose validator says in words what it must be, so `load_settings` can
name every bad setting in one message before anything runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core.setting_kinds import (
    MIN_JWT_SECRET_LENGTH,
    MIN_METRICS_TOKEN_LENGTH,
    MIN_PASSWORD_LENGTH,
    SETTING_ERROR,
    DatabaseName,
    Directory,
    Flag,
    Host,
    LogFormat,
    LogLevel,
    MongoUrl,
    OptionalEmail,
    OptionalPort,
    OptionalText,
    Origins,
    Port,
    Proxies,
    PublicUrl,
    Rate,
    RedisUrl,
    Sender,
    secret_of_at_least,
    whole_number,
)

# Values never repeated in a message: a typo in one still must not land in a log.
SECRET_SETTINGS = {"JWT_SECRET", "SMTP_PASSWORD", "BOOTSTRAP_ADMIN_PASSWORD", "METRICS_TOKEN"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # --- database and queue
    mongodb_url: MongoUrl = None
    mongodb_db: DatabaseName = "schoolbell"
    redis_url: RedisUrl = None

    # --- tokens
    jwt_secret: Annotated[str | None, secret_of_at_least(1)] = None
    access_token_minutes: Annotated[int, whole_number(1, 1440)] = 15
    refresh_token_days: Annotated[int, whole_number(1, 365)] = 30

    # --- web
    cors_origins: Origins = Field(default_factory=list)
    public_base_url: PublicUrl = "http://127.0.0.1:8000"
    max_body_bytes: Annotated[int, whole_number(1024, 100 * 1024 * 1024)] = 1024 * 1024
    data_dir: Directory = Field(default=Path(".schoolbell"), alias="SCHOOLBELL_DATA_DIR")
    # Reverse proxies whose X-Forwarded-For names the real client (comma-separated addresses
    # or networks; "*" is refused). Behind an untrusted hop every client would share one
    # rate-limit bucket, so name the proxy in front of the API here.
    forwarded_allow_ips: Proxies = Field(default_factory=lambda: ["127.0.0.1", "::1"])

    # --- email
    smtp_host: Host = None
    smtp_port: Port = 25
    smtp_user: OptionalText = None
    smtp_password: OptionalText = None
    smtp_starttls: Flag = False
    smtp_ssl: Flag = False
    mail_from: Sender = "Schoolbell <no-reply@schoolbell.local>"
    # Seconds to connect, to get the server's greeting, and for each reply before the
    # message is sent (EHLO, MAIL, RCPT): a server that says nothing that long is away.
    smtp_timeout_seconds: Annotated[int, whole_number(1, 300)] = 15
    # Seconds to wait for the reply to the end of a message (RFC 5321 4.5.3.2.6 gives the
    # server 10 minutes): the server has the whole message then, so giving up earlier
    # leaves its fate unknown and a resend may deliver it twice.
    smtp_data_timeout_seconds: Annotated[int, whole_number(1, 3600)] = 600
    # The provider's quota, for all workers together (shared through Redis). 100/s suits a
    # district's own relay or a paid plan of a commercial one (5,000 emails in under a
    # minute); some grant less (Amazon SES starts accounts at 14/s): set it to yours.
    email_rate_per_second: Annotated[int, whole_number(1, 10_000)] = 100
    # SMTP connections one send job keeps open at once. Each carries many messages; more
    # than one overlaps the server's replies. Providers cap connections per account (often
    # at 5 to 10 for all senders together), so keep workers x this under that cap.
    smtp_connections: Annotated[int, whole_number(1, 20)] = 3
    # Emails whose outcome (sent, failed) a sender writes to the database in one call. More
    # means fewer writes; after a worker is killed mid-send, up to this many per send job
    # may go out a second time (nothing ever records that the server took them). `dev`,
    # whose database is in its own process, writes each one.
    email_outcome_block: Annotated[int, whole_number(1, 1000)] = 50
    # Recipients of a notice written per batch (about four round trips each). A notice for
    # more becomes one job per batch, which any worker takes, so more workers deliver a
    # district broadcast sooner.
    fanout_batch_size: Annotated[int, whole_number(1, 10_000)] = 1000
    # Minutes a grade's email waits before it goes, so a correction made inside them sends
    # one email with the final value and a grade deleted inside them sends none (0: off).
    # The in-app notice appears at once either way.
    grade_notice_delay_minutes: Annotated[int, whole_number(0, 1440)] = 10

    # --- first admin
    bootstrap_admin_email: OptionalEmail = None
    bootstrap_admin_password: Annotated[str | None, secret_of_at_least(MIN_PASSWORD_LENGTH)] = None

    # --- rate limits
    login_rate_per_account: Rate = "10/minute"
    # A quarter of what one hashing slot checks in a minute on a two-core box (bench/logins.py):
    # loose enough for a school's families behind one address, never the whole capacity.
    login_rate_per_client: Rate = "120/minute"
    # Tight per address being registered, looser per client: a school's parents may register
    # from one shared address on the evening the codes go home.
    register_rate_per_email: Rate = "3/hour"
    register_rate_per_client: Rate = "30/hour"
    # Per account and client address together, so strangers' requests never use up the
    # owner's; loosely per client address alone (a school's families share one).
    password_reset_rate: Rate = "5/hour"
    password_reset_rate_per_client: Rate = "30/hour"
    announcement_rate: Rate = "30/hour"

    # --- operations
    log_format: LogFormat = "text"
    log_level: LogLevel = "INFO"
    metrics_token: Annotated[str | None, secret_of_at_least(MIN_METRICS_TOKEN_LENGTH)] = None
    worker_metrics_port: OptionalPort = 0

    def combination_problems(self) -> list[str]:
        """Settings that are fine alone but contradict each other."""
        problems = []
        if self.smtp_starttls and self.smtp_ssl:
            problems.append(
                "SMTP_STARTTLS and SMTP_SSL cannot both be true "
                "(STARTTLS upgrades a plain connection, usually port 587; SSL is port 465)"
            )
        if bool(self.bootstrap_admin_email) != bool(self.bootstrap_admin_password):
            problems.append(
                "BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD must be set together"
            )
        return problems

    def production_problems(self, *, needs_redis: bool = False) -> list[str]:
        """What `schoolbell api`, `worker` and `beat` need beyond what `dev` does."""
        problems = []
        if needs_redis and not self.redis_url:
            problems.append(
                "REDIS_URL is required: workers and beat talk to the API through Redis "
                "(`schoolbell dev` runs its own)"
            )
        if not self.mongodb_url:
            problems.append("MONGODB_URL is required (for a local run use `schoolbell dev`)")
        if not self.jwt_secret or len(self.jwt_secret) < MIN_JWT_SECRET_LENGTH:
            problems.append(
                f"JWT_SECRET must be at least {MIN_JWT_SECRET_LENGTH} characters outside dev"
            )
        return problems

    @property
    def secret(self) -> str:
        if not self.jwt_secret:
            raise RuntimeError("JWT_SECRET is not configured")
        return self.jwt_secret


def env_name(field: str) -> str:
    info = Settings.model_fields.get(field)
    return ((info.alias if info is not None else None) or field).upper()


def redact_passwords(text: str) -> str:
    """A connection string may carry a password (user:password@host): star it out."""
    return re.sub(r"(://[^:/@\s]*):[^@/\s]*@", r"\1:***@", text)


def _shown(name: str, value: Any) -> str:
    if name in SECRET_SETTINGS:
        return f"{len(str(value))} characters" if value is not None else "nothing"
    return f'"{redact_passwords(str(value))}"'


def describe_problems(exc: ValidationError) -> list[str]:
    """One sentence per bad setting: its name, what it must be, what it was."""
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        name = env_name(field) if field else "settings"
        if error["type"] == SETTING_ERROR:
            problems.append(f"{name} must be {error['msg']}, got {_shown(name, error['input'])}")
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(message if name in message else f"{name}: {message}")
    return problems


class SettingsError(Exception):
    """Every problem with the settings, to be shown together."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def load_settings(
    *, production: bool = False, needs_redis: bool = False, **overrides: Any
) -> Settings:
    """Read and check every setting; raise SettingsError naming all the bad ones at once."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = describe_problems(exc)
        bad = {str(error["loc"][0]) for error in exc.errors() if error["loc"]}
        # Check the rest on defaults for the bad ones, so a missing MONGODB_URL is named
        # in the same message as a bad rate, not after the operator fixed the rate.
        defaults = {
            field: Settings.model_fields[field].get_default(call_default_factory=True)
            for field in bad
        }
        try:
            rest = Settings(**{**overrides, **defaults})
        except ValidationError:  # a default overridden by an argument; nothing more to add
            raise SettingsError(problems) from None
        named = {env_name(field) for field in bad}
        problems += [
            problem
            for problem in rest.combination_problems()
            + (rest.production_problems(needs_redis=needs_redis) if production else [])
            if problem.split(" ", 1)[0] not in named
        ]
        raise SettingsError(problems) from None
    problems = settings.combination_problems()
    if production:
        problems += settings.production_problems(needs_redis=needs_redis)
    if problems:
        raise SettingsError(problems)
    return settings


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
