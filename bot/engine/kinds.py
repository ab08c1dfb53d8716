"""The kinds of argument a usage line can name, each with its check.

`<app>` in a usage line is checked by the kind named "app"; a check returns the value (maybe
converted: a duration becomes a timedelta) or raises `ArgError` saying which shape it wants.
Names are strict because they become paths in the state repo: no `/`, no `..`, no control
characters.
"""

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.core.ids import USER_ID
from bot.core.text import clean, clean_multiline
from bot.state.names import MAX_NAME
from bot.state.names import NAME as _NAME
from bot.state.names import VERSION as _VERSION


class ArgError(ValueError):
    """An argument of the right place but the wrong shape; the message says which shape."""


# Every pattern is used with `fullmatch`: `$` also matches before a final newline, so "sev1\n"
# would pass. Digits are spelled [0-9]: `\d` and `int()` also take "٣" and "²".
_DURATION = re.compile(r"(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?")
_HEX = re.compile(r"[0-9a-f]{4,40}")
_DIGITS = re.compile(r"[0-9]{1,10}")
MAX_DURATION = timedelta(days=90)


def printable(value: str) -> None:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ArgError("must not contain control characters")


def name(value: str) -> str:
    printable(value)
    if len(value) > MAX_NAME:
        raise ArgError(f"must be at most {MAX_NAME} characters")
    if "/" in value or ".." in value or not _NAME.fullmatch(value):
        raise ArgError("must be letters, digits, '.', '-' or '_' (no '/' or '..')")
    return value


def version(value: str) -> str:
    printable(value)
    if len(value) > MAX_NAME or not _VERSION.fullmatch(value):
        raise ArgError("must be a plain version like 1.4.2, v2.0 or 1.4.2-rc.1")
    return value


def duration(value: str) -> timedelta:
    match = _DURATION.fullmatch(value.lower())
    if not value or not match or not any(match.groups()):
        raise ArgError("must be a duration like 30m, 2h, 1d or 1d12h")
    longest = f"must be more than 0m and at most {MAX_DURATION.days}d"
    if any(len(g or "") > 6 for g in match.groups()):  # longer than any bound, before int()
        raise ArgError(longest)
    weeks, days, hours, minutes = (int(g or 0) for g in match.groups())
    # Counted in whole minutes before anything becomes a timedelta, which overflows on its own
    # past 999999999 days: a number too large is then a refusal, never an internal error.
    total = ((weeks * 7 + days) * 24 + hours) * 60 + minutes
    if not 0 < total <= MAX_DURATION // timedelta(minutes=1):
        raise ArgError(longest)
    return timedelta(minutes=total)


def revision(value: str) -> str:
    if not _HEX.fullmatch(value.lower()):
        raise ArgError("must be a commit id: 4 to 40 hexadecimal digits")
    return value.lower()


def whole_number(value: str) -> int | None:
    """`value` as a whole number if it is ASCII digits only (not "²", "٣" or " 7"), else None."""
    return int(value) if _DIGITS.fullmatch(value) else None


def count(value: str) -> int:
    number = whole_number(value)
    if number is None or not 1 <= number <= 200:
        raise ArgError("must be a number from 1 to 200")
    return number


def word(value: str) -> str:
    """A name opsbot looks up (a command, a role): refused with invisible characters in it,
    which no name has and which would make the refusal that repeats it read otherwise."""
    printable(value)
    if len(value) > MAX_NAME:
        raise ArgError(f"must be at most {MAX_NAME} characters")
    if _invisible(value):
        raise ArgError("must not contain invisible characters (bidi controls, zero-width spaces)")
    return value.removeprefix("!")


def user(value: str) -> str:
    printable(value)
    # Format characters (bidi controls, zero-width spaces) would let one id pass for another.
    if len(value) > 255 or _invisible(value) or not USER_ID.fullmatch(value):
        raise ArgError("must be a Matrix user id like @alice:example.org")
    return value


def _invisible(value: str) -> bool:
    """Whether `value` holds a format character or a line or paragraph separator."""
    return any(unicodedata.category(c) in ("Cf", "Zl", "Zp") for c in value)


def text(value: str) -> str:
    """Free text on one line (`--reason`): what others read must be what was typed, so
    bidi controls go and line separators become spaces."""
    printable(value)
    return clean(value)


def user_or_me(value: str) -> str:
    return value if value.lower() == "me" else user(value)


def note(value: str) -> str:
    """Free text that may span lines (`<text...>`): kept as typed, but for bidi controls and
    line breaks in disguise."""
    if len(value.encode()) > 4096:
        raise ArgError("must be at most 4 KiB; put longer text in a file in the repo")
    value = clean_multiline(value)
    if not value.strip():
        raise ArgError("must not be empty")
    return value


def choice(*options: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value.lower() not in options:
            raise ArgError(f"must be one of: {', '.join(options)}")
        return value.lower()

    return check


@dataclass(frozen=True)
class ArgKind:
    """What `<name>` in a usage line takes: `check` returns the value (maybe converted) or
    raises `ArgError`. A kind with a `shape` is one whose words are recognisable: an optional
    argument of it is taken only when the word has that shape, so `!incident open sev2 DB down`
    and `!incident open DB down` both read as intended."""

    name: str
    check: Callable[[str], Any]
    shape: re.Pattern[str] | None = None


CORE_KINDS = (
    ArgKind("app", name),
    ArgKind("env", name),
    ArgKind("source", name),
    ArgKind("target", name),
    ArgKind("version", version),
    ArgKind("duration", duration),
    ArgKind("commit", revision),
    ArgKind("command", word),
    ArgKind("user", user),
    ArgKind("user_or_me", user_or_me),
    ArgKind("role", word),
    ArgKind("text", note),
)
"""The kinds every feature may name; a feature declares its own beside them (`Feature.kinds`)."""
