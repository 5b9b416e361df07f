"""Every setting is checked at start, and every bad one is named in one message."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.core.config import Settings, SettingsError, load_settings
from tests.dev_server import command, settings_env_names

GOOD_PRODUCTION = {
    "MONGODB_URL": "mongodb://127.0.0.1:9/",
    "REDIS_URL": "redis://127.0.0.1:9/0",
    "JWT_SECRET": "x" * 40,
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in settings_env_names():
        monkeypatch.delenv(name, raising=False)


def problems_with(
    monkeypatch: pytest.MonkeyPatch, *, production: bool = False, **env: str
) -> list[str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(production=production, _env_file=None)
    return caught.value.problems


def test_the_defaults_are_valid() -> None:
    settings = load_settings(_env_file=None)
    assert settings.access_token_minutes == 15
    assert settings.mail_from == "Schoolbell <no-reply@schoolbell.local>"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        # whole numbers out of range, negative, or not numbers
        ("ACCESS_TOKEN_MINUTES", "-5", 'must be a whole number from 1 to 1440, got "-5"'),
        ("ACCESS_TOKEN_MINUTES", "1.5", "must be a whole number from 1 to 1440"),
        ("REFRESH_TOKEN_DAYS", "0", "must be a whole number from 1 to 365"),
        ("EMAIL_RATE_PER_SECOND", "many", "must be a whole number from 1 to 10000"),
        # sizes
        ("MAX_BODY_BYTES", "0", "must be a whole number from 1024 to 104857600"),
        # ports
        ("SMTP_PORT", "99999", "must be a whole number from 1 to 65535"),
        ("WORKER_METRICS_PORT", "http", "must be a whole number from 0 to 65535"),
        # rates, parsed at start
        ("LOGIN_RATE_PER_ACCOUNT", "banana", 'must be a rate such as "10/minute"'),
        ("ANNOUNCEMENT_RATE", "0/hour", 'must be a rate such as "10/minute"'),
        ("PASSWORD_RESET_RATE", "5/fortnight", 'must be a rate such as "10/minute"'),
        ("REGISTER_RATE_PER_EMAIL", "3 an hour", 'must be a rate such as "10/minute"'),
        # URLs
        ("PUBLIC_BASE_URL", "not-a-url", "must be a URL starting with http:// or https://"),
        ("PUBLIC_BASE_URL", "https://x.org/?a=1", "without a query"),
        ("MONGODB_URL", "localhost:27017", "must be a URL starting with mongodb://"),
        ("REDIS_URL", "http://redis:6379", "must be a URL starting with redis://"),
        ("CORS_ORIGINS", "*", "'*' is refused"),
        ("CORS_ORIGINS", "diary.school.org", "a comma-separated list of origins"),
        ("FORWARDED_ALLOW_IPS", "proxy.school.org", "a comma-separated list of addresses"),
        # any client could name its own address: past rate limits, into /metrics
        ("FORWARDED_ALLOW_IPS", "*", "'*' is refused"),
        ("FORWARDED_ALLOW_IPS", "10.0.0.5, *", "'*' is refused"),
        # every address written as a network is '*' under another name
        ("FORWARDED_ALLOW_IPS", "0.0.0.0/0", "'*' is refused"),
        ("FORWARDED_ALLOW_IPS", "10.0.0.5, ::/0", "'*' is refused"),
        # email addresses
        ("MAIL_FROM", "garbage", "must be an email address"),
        ("BOOTSTRAP_ADMIN_EMAIL", "admin", "must be an email address"),
        # flags and choices
        ("SMTP_STARTTLS", "maybe", "must be true or false"),
        ("LOG_FORMAT", "xml", 'must be "text" or "json"'),
        ("MONGODB_DB", "my/db", "must be a MongoDB database name"),
        ("SMTP_HOST", "smtp host", "must be a host name"),
    ],
)
def test_each_kind_of_mistake_is_named_with_what_it_must_be(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    problems = problems_with(monkeypatch)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{name} ")
    assert expected in problems[0]


def test_every_setting_has_a_checked_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    # "?" is a fine login, password or folder name, and nothing else: every other setting
    # must refuse it by name. A setting added without a checked kind fails here.
    free_text = {"SMTP_USER", "SMTP_PASSWORD", "JWT_SECRET", "SCHOOLBELL_DATA_DIR"}
    for name in settings_env_names() - free_text:
        monkeypatch.setenv(name, "?")
    problems = problems_with(monkeypatch)
    named = {problem.split(" ", 1)[0] for problem in problems}
    assert named == settings_env_names() - free_text


def test_all_problems_in_one_message_with_the_production_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problems = problems_with(
        monkeypatch,
        production=True,
        ACCESS_TOKEN_MINUTES="-5",
        LOGIN_RATE_PER_ACCOUNT="banana",
        JWT_SECRET="short",
    )
    assert [p.split(" ", 1)[0] for p in problems] == [
        "ACCESS_TOKEN_MINUTES",
        "LOGIN_RATE_PER_ACCOUNT",
        "MONGODB_URL",
        "JWT_SECRET",
    ]


def test_settings_that_contradict_each_other(monkeypatch: pytest.MonkeyPatch) -> None:
    problems = problems_with(
        monkeypatch, SMTP_STARTTLS="true", SMTP_SSL="true", BOOTSTRAP_ADMIN_EMAIL="a@school.org"
    )
    assert any("SMTP_STARTTLS and SMTP_SSL cannot both be true" in p for p in problems)
    assert any("BOOTSTRAP_ADMIN_PASSWORD must be set together" in p for p in problems)


def test_secrets_and_passwords_in_urls_are_never_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    problems = problems_with(
        monkeypatch,
        METRICS_TOKEN="hunter2",
        BOOTSTRAP_ADMIN_EMAIL="a@school.org",
        BOOTSTRAP_ADMIN_PASSWORD="hunter3",
        MONGODB_URL="mongo://admin:hunter4@db/",
    )
    message = "\n".join(problems)
    for secret in ("hunter2", "hunter3", "hunter4"):
        assert secret not in message
    assert "METRICS_TOKEN must be at least 16 characters, got 7 characters" in message
    assert 'got "mongo://admin:***@db/"' in message


def test_blank_values_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MONGODB_URL", "REDIS_URL", "SMTP_HOST", "JWT_SECRET", "METRICS_TOKEN"):
        monkeypatch.setenv(name, "")
    settings = load_settings(_env_file=None)
    assert settings.mongodb_url is None and settings.redis_url is None
    assert settings.smtp_host is None and settings.jwt_secret is None


def test_values_are_parsed_into_their_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PORT", " 587 ")
    monkeypatch.setenv("SMTP_STARTTLS", "yes")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://diary.school.org/")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.org, https://b.org/")
    settings = load_settings(_env_file=None)
    assert settings.smtp_port == 587 and settings.smtp_starttls is True
    assert settings.public_base_url == "https://diary.school.org"
    assert settings.cors_origins == ["https://a.org", "https://b.org"]
    assert Settings(_env_file=None, access_token_minutes=5).access_token_minutes == 5


@pytest.mark.parametrize("command_name", ["dev", "api", "worker", "beat"])
def test_every_command_refuses_bad_settings_in_one_message_without_a_traceback(
    command_name: str, tmp_path: Path
) -> None:
    from tests.dev_server import clean_env

    env = clean_env(
        tmp_path / "data",
        **GOOD_PRODUCTION,
        ACCESS_TOKEN_MINUTES="-5",
        LOGIN_RATE_PER_ACCOUNT="banana",
        MAIL_FROM="garbage",
    )
    args = [*command(), command_name]
    if command_name == "dev":
        args += ["--port", "0"]
    result = subprocess.run(
        args,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert 'ACCESS_TOKEN_MINUTES must be a whole number from 1 to 1440, got "-5"' in result.stderr
    assert "LOGIN_RATE_PER_ACCOUNT must be a rate" in result.stderr
    assert "MAIL_FROM must be an email address" in result.stderr
    assert "3 settings to fix" in result.stderr
