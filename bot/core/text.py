"""Cleaning text that people typed before it is shown to other people (or written for them).

Two kinds of characters make text lie about itself. Bidi controls (an RTL override, isolates,
marks) reorder what is displayed, so `@mallory` can read as someone else or a reason can hide its
end. Line breaks in disguise (U+2028, U+2029, U+0085) and other control characters start a new
line where the reader, or a parser such as Git's trailer reader, sees one and the checks did not.

What reaches a terminal or a log line is escaped instead (`escaped`, `say`): there a control
character is worse than a lie about layout, since an escape sequence moves the cursor and paints
over what was printed before it, and the operator must see that it was sent.
"""

import re
import sys
from typing import TextIO

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


# What a terminal acts on instead of showing, or shows where it was not written: C0 and C1
# controls (ESC starts the sequences that move the cursor, recolour, retitle), DEL, the line
# and paragraph separators, the bidi controls, and lone surrogates (a file name that was not
# UTF-8, which a terminal's encoder would refuse).
_NOT_SHOWN = "\x7f-\x9f\u2028\u2029" + "".join(sorted(BIDI_CONTROLS)) + "\ud800-\udfff"
_ESCAPE = re.compile("[\x00-\x1f" + _NOT_SHOWN + "]")
_ESCAPE_BUT_LINES = re.compile("[\x00-\x08\x0b-\x1f" + _NOT_SHOWN + "]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escaped(text: str, *, lines: bool = False) -> str:
    """`text` as a terminal or a log line may carry it: every character that would move the
    cursor, recolour, start a line or reorder the text around it is written out instead, as
    `\\x1b`, `\\r` or `\\u202e`, so the reader sees that it was there and what it was. With
    `lines`, "\\n" and "\\t" stay (a "\\r\\n" is one "\\n"): the text is lines the program
    itself laid out, and each outside value in it was escaped on its own first.

    Text from outside (Matrix events, the homeserver's answers, pushed file names, another
    process's arguments) reaches the operator's terminal or a log line only through this."""
    if lines:
        return _ESCAPE_BUT_LINES.sub(_visible, text.replace("\r\n", "\n"))
    return _ESCAPE.sub(_visible, text)


def _visible(match: re.Match[str]) -> str:
    c = match.group()
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def say(text: str, file: TextIO | None = None, *, end: str = "\n") -> None:
    """Writes `text` (lines the program laid out) for a person at a terminal, escaped; the
    one way opsbot prints."""
    out = file if file is not None else sys.stdout
    out.write(escaped(text, lines=True) + end)
    out.flush()
