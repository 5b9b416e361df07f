"""Text people type that others then read: names, titles, bodies, comments.

Every such field reaches an email, a page or a log, so it refuses what can disguise or
smuggle text there: control characters (NUL, ESC, backspace: a terminal or a mail header
reads them as commands), and direction overrides and isolates (U+202E turns "exe.txt" into
"txt.exe" on screen). Line breaks are allowed only in long bodies, where they are layout.
"""

from __future__ import annotations

import unicodedata

from pydantic import AfterValidator

LINE_BREAKS = frozenset({"\n", "\r"})
# Joiners stay: emoji sequences and Persian or Indic words are written with them.
JOINERS = frozenset({"\u200c", "\u200d"})
# Control (Cc), format (Cf: direction marks, overrides, isolates, invisible spaces),
# surrogates, private use, and the line and paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


def first_refused_character(value: str, *, line_breaks: bool = False) -> str | None:
    """The first character a stored text may not hold, or None when there is none."""
    for character in value:
        if character in JOINERS or (line_breaks and character in LINE_BREAKS):
            continue
        if unicodedata.category(character) in _REFUSED_CATEGORIES:
            return character
    return None


def _refusal(character: str) -> str:
    return f"must not contain control or text-direction characters (U+{ord(character):04X})"


def _check_line(value: str) -> str:
    refused = first_refused_character(value)
    if refused is not None:
        raise ValueError(_refusal(refused))
    return value


def _check_body(value: str) -> str:
    refused = first_refused_character(value, line_breaks=True)
    if refused is not None:
        raise ValueError(_refusal(refused))
    # One kind of line break, so a body reads the same in every mail client and page.
    return value.replace("\r\n", "\n").replace("\r", "\n")


# The shared validators: each field states its own bounds and adds one of these, e.g.
# Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), PLAIN_LINE].
PLAIN_LINE = AfterValidator(_check_line)
PLAIN_BODY = AfterValidator(_check_body)
