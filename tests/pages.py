"""Reading server-rendered pages the way a person does: the words they show."""

from __future__ import annotations

import html
import re

# Names that stay as they are in every language.
# Each language is named in itself in the language menu.
UNTRANSLATED = {"Schoolbell", "English"}


def visible_text(page: str) -> str:
    """The text a reader sees: no styles, no tags, entities decoded."""
    page = re.sub(r"<(style|script|title)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def english_words(page: str) -> list[str]:
    """Latin-letter words a Russian reader would meet, other than names and addresses."""
    text = visible_text(page)
    text = re.sub(r"\S+@\S+|https?://\S+|\b[A-Z][a-z]+/[A-Za-z_]+\b", " ", text)
    return [w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in UNTRANSLATED]
