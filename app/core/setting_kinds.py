"""The kinds of setting: how each setting's text is read and checked (a whole number in a
range, a rate, a URL, an address...), each validator saying in words what it must be, so
`load_settings` can name every bad setting in one message before anything runs."""

from __future__ import annotations

import ipaddress
import re
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from limits import parse as parse_rate
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError
from pydantic_settings import NoDecode

MIN_JWT_SECRET_LENGTH = 32
MIN_PASSWORD_LENGTH = 8
MIN_METRICS_TOKEN_LENGTH = 16

SETTING_ERROR = "invalid_setting"


def _refuse(requirement: str) -> PydanticCustomError:
    # The message is the requirement alone; `describe_problems` adds the name and the value.
    return PydanticCustomError(SETTING_ERROR, requirement)


def _blank_is_unset(value: object) -> object:
    # `NAME=` in .env or compose means "not set", as a commented-out line does.
    return None if isinstance(value, str) and not value.strip() else value


def whole_number(low: int, high: int) -> BeforeValidator:
    requirement = f"a whole number from {low} to {high}"

    def check(value: object) -> int:
        if isinstance(value, bool):
            raise _refuse(requirement)
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            number = int(value)
        else:
            raise _refuse(requirement)
        if not low <= number <= high:
            raise _refuse(requirement)
        return number

    return BeforeValidator(check)


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off", ""}:
        return False
    raise _refuse("true or false")


def _rate(value: object) -> str:
    requirement = 'a rate such as "10/minute" (a count per second, minute, hour or day)'
    if not isinstance(value, str):
        raise _refuse(requirement)
    try:
        item = parse_rate(value)
    except ValueError:
        raise _refuse(requirement) from None
    if item.amount < 1:
        raise _refuse(requirement)
    return value.strip()


def _check_url(value: object, schemes: tuple[str, ...]) -> str:
    names = " or ".join(f"{scheme}://" for scheme in schemes)
    requirement = f"a URL starting with {names} and naming a host"
    if not isinstance(value, str):
        raise _refuse(requirement)
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        raise _refuse(requirement) from None
    # The netloc, not .hostname: MongoDB lists several hosts there (a,b,c:27017).
    host = parts.netloc.rpartition("@")[2]
    if parts.scheme not in schemes or not host or " " in value.strip():
        raise _refuse(requirement)
    return value.strip()


def _url(schemes: tuple[str, ...]) -> BeforeValidator:
    def check(value: object) -> str | None:
        value = _blank_is_unset(value)
        return None if value is None else _check_url(value, schemes)

    return BeforeValidator(check)


def _public_url(value: object) -> str:
    checked = _check_url(value, ("http", "https"))
    parts = urlsplit(checked)
    if parts.query or parts.fragment:
        raise _refuse("an http:// or https:// URL without a query or fragment")
    return checked.rstrip("/")


def _comma_list(value: object) -> list[str]:
    items = value if isinstance(value, list) else str(value or "").split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def _origins(value: object) -> list[str]:
    requirement = (
        "a comma-separated list of origins such as https://diary.school.example.org "
        "('*' is refused: credentials must never be readable by any origin)"
    )
    origins = _comma_list(value)
    if "*" in origins:
        raise _refuse("a list of origins; '*' is refused: credentials must stay private")
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path.strip("/"):
            raise _refuse(requirement)
    return [origin.rstrip("/") for origin in origins]


def _every_address(proxy: str) -> bool:
    """0.0.0.0/0 or ::/0: '*' written as a network."""
    try:
        return ipaddress.ip_network(proxy, strict=False).prefixlen == 0
    except ValueError:
        return False


def _proxies(value: object) -> list[str]:
    requirement = (
        'a comma-separated list of addresses or networks such as "10.0.0.5, 172.16.0.0/12"'
    )
    proxies = _comma_list(value)
    for proxy in proxies:
        if proxy == "*" or _every_address(proxy):
            # Trusting every hop trusts the left-most X-Forwarded-For entry, which the client
            # writes: any client could claim 127.0.0.1 (and read /metrics) or a fresh
            # address per request (and escape every per-client rate limit).
            raise _refuse(
                "the addresses of your reverse proxies; '*' is refused: it lets any client "
                "name its own address, past every per-client limit and the loopback rule "
                "of /metrics"
            )
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise _refuse(requirement) from None
    return proxies


def _address(value: object, *, named: bool, optional: bool) -> str | None:
    requirement = (
        'an email address, optionally with a name: "Schoolbell <no-reply@school.example.org>"'
        if named
        else "an email address such as admin@school.example.org"
    )
    value = _blank_is_unset(value)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _refuse(requirement)
    name, address = parseaddr(value.strip())
    # A syntax check only: a school may well send from its own .local domain.
    if (name and not named) or not re.fullmatch(
        r"[^@\s<>]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", address
    ):
        raise _refuse(requirement)
    return value.strip()


def _host(value: object) -> str | None:
    value = _blank_is_unset(value)
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9._:\[\]-]+", value.strip()):
        raise _refuse("a host name or IP address such as smtp.school.example.org")
    return value.strip()


def _database_name(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,63}", value.strip()):
        raise _refuse("a MongoDB database name of 1 to 63 letters, digits, '_' or '-'")
    return value.strip()


def secret_of_at_least(minimum: int) -> BeforeValidator:
    def check(value: object) -> str | None:
        value = _blank_is_unset(value)
        if value is None:
            return None
        if not isinstance(value, str) or len(value) < minimum:
            raise _refuse(f"at least {minimum} characters")
        return value

    return BeforeValidator(check)


def _optional_text(value: object) -> str | None:
    return _blank_is_unset(value)  # type: ignore[return-value]


def _directory(value: object) -> Path:
    if isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value.strip():
        raise _refuse("a folder path")
    return Path(value.strip())


def _log_format(value: object) -> str:
    text = str(value).strip().lower()
    if text not in {"text", "json"}:
        raise _refuse('"text" or "json"')
    return text


def _log_level(value: object) -> str:
    text = str(value).strip().upper()
    if text not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise _refuse("one of DEBUG, INFO, WARNING, ERROR")
    return text


# The kinds of setting. A new setting takes one of these, so it is checked at start too.
Flag = Annotated[bool, BeforeValidator(_flag)]
Rate = Annotated[str, BeforeValidator(_rate)]
Port = Annotated[int, whole_number(1, 65535)]
OptionalPort = Annotated[int, whole_number(0, 65535)]
MongoUrl = Annotated[str | None, _url(("mongodb", "mongodb+srv"))]
RedisUrl = Annotated[str | None, _url(("redis", "rediss", "unix"))]
PublicUrl = Annotated[str, BeforeValidator(_public_url)]
Origins = Annotated[list[str], NoDecode, BeforeValidator(_origins)]
Proxies = Annotated[list[str], NoDecode, BeforeValidator(_proxies)]
Sender = Annotated[str, BeforeValidator(lambda v: _address(v, named=True, optional=False))]
OptionalEmail = Annotated[
    str | None, BeforeValidator(lambda v: _address(v, named=False, optional=True))
]
Host = Annotated[str | None, BeforeValidator(_host)]
DatabaseName = Annotated[str, BeforeValidator(_database_name)]
Directory = Annotated[Path, BeforeValidator(_directory)]
OptionalText = Annotated[str | None, BeforeValidator(_optional_text)]
LogFormat = Annotated[Literal["text", "json"], BeforeValidator(_log_format)]
LogLevel = Annotated[str, BeforeValidator(_log_level)]
