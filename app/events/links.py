"""The signed links events mail out and hand out: one-click answers (section 7's token rules:
one user, one purpose, 60 days, a GET page that confirms with a POST) and calendar feeds
(revocable: the link names a feed version, and a new link raises it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from beanie import PydanticObjectId
from bson.errors import InvalidId

from app.core.config import Settings
from app.core.page_tokens import InvalidPageToken, PageToken, read_page_token, sign_page_token
from app.core.security import as_utc
from app.core.web import public_url
from app.events.models import Answer

ANSWER_PURPOSE = "event_answer"
ANSWER_TTL = timedelta(days=60)
ANSWER_PATH = "/events/answer"
CALENDAR_PURPOSE = "calendar"
# A calendar app polls one URL for years; revoking it is what ends it, not time.
CALENDAR_TTL = timedelta(days=3650)
CALENDAR_PATH = "/api/v1/calendar/{token}.ics"


@dataclass(frozen=True)
class AnswerLink:
    user_id: PydanticObjectId
    event_id: PydanticObjectId
    answer: Answer
    token: PageToken


def answer_url(
    *, settings: Settings, user_id: PydanticObjectId, event_id: str, answer: Answer
) -> str:
    token = sign_page_token(
        secret=settings.secret,
        user_id=str(user_id),
        purpose=ANSWER_PURPOSE,
        ttl=ANSWER_TTL,
        event=event_id,
        answer=answer.value,
    )
    return public_url(settings.public_base_url, ANSWER_PATH, token=token)


def read_answer_token(*, settings: Settings, token: str) -> AnswerLink:
    """What a one-click answer link says; InvalidPageToken if forged or for anything else."""
    page_token = read_page_token(secret=settings.secret, token=token, purpose=ANSWER_PURPOSE)
    try:
        return AnswerLink(
            user_id=PydanticObjectId(page_token.user_id),
            event_id=PydanticObjectId(str(page_token.claims.get("event"))),
            answer=Answer(str(page_token.claims.get("answer"))),
            token=page_token,
        )
    except (ValueError, TypeError, InvalidId) as exc:
        raise InvalidPageToken(str(exc)) from exc


def calendar_url(
    *, settings: Settings, user_id: PydanticObjectId, version: int, issued_at: datetime
) -> str:
    token = sign_page_token(
        secret=settings.secret,
        user_id=str(user_id),
        purpose=CALENDAR_PURPOSE,
        ttl=CALENDAR_TTL,
        now=as_utc(issued_at),
        version=version,
    )
    return public_url(settings.public_base_url, CALENDAR_PATH.format(token=token))


def read_calendar_token(*, settings: Settings, token: str) -> tuple[PydanticObjectId, int]:
    """The user and feed version a calendar link names; InvalidPageToken if forged, expired
    or for anything else."""
    page_token = read_page_token(secret=settings.secret, token=token, purpose=CALENDAR_PURPOSE)
    version = page_token.claims.get("version")
    if page_token.expired or not isinstance(version, int) or isinstance(version, bool):
        raise InvalidPageToken("expired or without a version")
    try:
        return PydanticObjectId(page_token.user_id), version
    except (InvalidId, TypeError) as exc:
        raise InvalidPageToken(str(exc)) from exc
