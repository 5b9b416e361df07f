"""The message catalogues, plurals, dates and the choice of a page's language."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from babel import Locale

from app.core import i18n


def test_every_key_is_in_every_catalogue() -> None:
    keys = {locale: set(i18n.catalogue(locale)) for locale in i18n.LOCALES}
    for locale, have in keys.items():
        for other, theirs in keys.items():
            missing = sorted(theirs - have)
            assert not missing, f"{locale}.json lacks {missing}, which {other}.json has"


def test_counted_messages_have_every_plural_form_of_their_language() -> None:
    for locale in i18n.LOCALES:
        forms = set(Locale.parse(locale).plural_form.tags) | {"other"}
        for key, message in i18n.catalogue(locale).items():
            if isinstance(message, dict):
                assert forms <= set(message), f"{locale}:{key} lacks {forms - set(message)}"


def test_placeholders_agree_between_languages() -> None:
    def fields(message: object) -> set[str]:
        texts = message.values() if isinstance(message, dict) else [message]
        return {name for text in texts for name in re.findall(r"\{(\w+)\}", str(text))}

    english = i18n.catalogue("en")
    for key, message in i18n.catalogue("ru").items():
        assert fields(message) == fields(english[key]), key


def test_no_russian_message_is_left_in_english() -> None:
    english = i18n.catalogue("en")
    for key, message in i18n.catalogue("ru").items():
        texts = message.values() if isinstance(message, dict) else [message]
        for text in texts:
            # Placeholders ({when}) are filled in the reader's language: not words.
            words = re.sub(r"\{\w+\}", "", str(text))
            if re.search("[A-Za-z]{4,}", words) and not re.search("[А-Яа-яЁё]", words):
                assert text != english[key], f"ru:{key} is English: {text!r}"


@pytest.mark.parametrize(
    ("count", "expected"), [(1, "1 оценка"), (2, "2 оценки"), (5, "5 оценок"), (21, "21 оценка")]
)
def test_russian_plurals_follow_babel(count: int, expected: str) -> None:
    assert i18n.plural("ru", "count.grades", count) == expected


def test_english_plurals() -> None:
    assert i18n.plural("en", "count.grades", 1) == "1 grade"
    assert i18n.plural("en", "count.grades", 3) == "3 grades"


def test_dates_are_in_the_readers_zone_and_language() -> None:
    moment = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    assert i18n.format_datetime(moment, "ru", "Europe/Moscow") == "1 декабря 2026, 18:00"
    assert i18n.format_datetime(moment, "en", "Asia/Vladivostok") == "2 December 2026, 01:00"


@pytest.mark.parametrize(
    ("user", "lang", "accept", "expected"),
    [
        ("ru", "en", "en", "ru"),
        (None, "ru", "en", "ru"),
        (None, "de", "de-DE,ru;q=0.8,en;q=0.5", "ru"),
        (None, None, "en-GB,en;q=0.9", "en"),
        (None, None, "fr, *;q=0.1", "en"),
        (None, None, None, "en"),
        (None, None, "ru;q=bad, ;;;", "en"),
    ],
)
def test_a_pages_language(
    user: str | None, lang: str | None, accept: str | None, expected: str
) -> None:
    assert i18n.choose_locale(user_locale=user, lang=lang, accept_language=accept) == expected
