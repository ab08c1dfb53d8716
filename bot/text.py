"""Cleaning text that people typed before it is shown to other people (or written for them).

Two kinds of characters make text lie about itself. Bidi controls (an RTL override, isolates,
marks) reorder what is displayed, so `@mallory` can read as someone else or a reason can hide its
end. Line breaks in disguise (U+2028, U+2029, U+0085) and other control characters start a new
line where the reader, or a parser such as Git's trailer reader, sees one and the checks did not.
"""

import re

# Explicit embeddings, overrides, isolates and marks: none of them carries text of its own.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

_BIDI = re.compile("[" + "".join(sorted(BIDI_CONTROLS)) + "]")
# C0 and C1 controls (tab and newline included), DEL, and the Unicode line/paragraph separators.
_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BREAKS_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def has_bidi_controls(text: str) -> bool:
    """True if `text` holds a character that reorders how the text around it is displayed."""
    return _BIDI.search(text) is not None


def without_bidi(text: str) -> str:
    """`text` with its bidi controls removed and nothing else changed (for markup)."""
    return _BIDI.sub("", text)


def clean(text: str) -> str:
    """`text` on one line, as it may be shown: bidi controls removed, every control character and
    line or paragraph separator turned into a space."""
    return _BREAKS.sub(" ", _BIDI.sub("", text))


def clean_multiline(text: str) -> str:
    """Like `clean`, but "\\n" stays a line break (a "\\r\\n" becomes one "\\n")."""
    text = _BIDI.sub("", text).replace("\r\n", "\n")
    return _BREAKS_BUT_NEWLINE.sub(" ", text)


MAX_NOTICE = 4000  # characters of outside text in one notice; what is cut is said to be cut


def clip(text: str, limit: int = MAX_NOTICE) -> str:
    """`text`, cut to `limit` characters with a note saying so."""
    if len(text) <= limit:
        return text
    return text[: limit - 20].rstrip() + "\n(... cut short)"
