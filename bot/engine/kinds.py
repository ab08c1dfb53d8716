"""The kinds of argument a usage line can name, each with its check.

`<app>` in a usage line is checked by `ARG_KINDS["app"]`; a check returns the value (maybe
converted: a duration becomes a timedelta) or raises `ArgError` saying which shape it wants.
Names are strict because they become paths in the state repo: no `/`, no `..`, no control
characters.
"""

import re
import unicodedata
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bot.core.ids import INCIDENT_ID, INCIDENT_STATES, SEVERITY, USER_ID, is_ed25519_key
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
_DEVICE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DEVICE_KEY = re.compile(r"[A-Za-z0-9+/]{43}=?")
MAX_DURATION = timedelta(days=90)


def _printable(value: str) -> None:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ArgError("must not contain control characters")


def name(value: str) -> str:
    _printable(value)
    if len(value) > MAX_NAME:
        raise ArgError(f"must be at most {MAX_NAME} characters")
    if "/" in value or ".." in value or not _NAME.fullmatch(value):
        raise ArgError("must be letters, digits, '.', '-' or '_' (no '/' or '..')")
    return value


def version(value: str) -> str:
    _printable(value)
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


def _number(value: str) -> int | None:
    """`value` as a whole number if it is ASCII digits only (not "²", "٣" or " 7"), else None."""
    return int(value) if _DIGITS.fullmatch(value) else None


def count(value: str) -> int:
    number = _number(value)
    if number is None or not 1 <= number <= 200:
        raise ArgError("must be a number from 1 to 200")
    return number


def word(value: str) -> str:
    _printable(value)
    if len(value) > MAX_NAME:
        raise ArgError(f"must be at most {MAX_NAME} characters")
    return value.removeprefix("!")


def user(value: str) -> str:
    _printable(value)
    # Format characters (bidi controls, zero-width spaces) would let one id pass for another.
    invisible = any(unicodedata.category(c) in ("Cf", "Zl", "Zp") for c in value)
    if len(value) > 255 or invisible or not USER_ID.fullmatch(value):
        raise ArgError("must be a Matrix user id like @alice:example.org")
    return value


def device(value: str) -> str:
    if not _DEVICE.fullmatch(value):
        raise ArgError("must be a device id like ABCDEFGHIJ")
    return value


def device_key(value: str) -> str:
    key = value.removesuffix("=")
    if not _DEVICE_KEY.fullmatch(value) or not is_ed25519_key(key):
        raise ArgError("must be an ed25519 key: 43 base64 characters, as the client shows it")
    return key


def proposal(value: str) -> int:
    digits = value.removeprefix("#")
    number = _number(digits)
    if number is None or not 1 <= number <= 10**9:
        raise ArgError("must be a proposal number, like 3 (!proposals lists them)")
    return number


def text(value: str) -> str:
    """Free text on one line (`--reason`): what others read must be what was typed, so
    bidi controls go and line separators become spaces."""
    _printable(value)
    return clean(value)


def user_or_me(value: str) -> str:
    return value if value.lower() == "me" else user(value)


def severity(value: str) -> str:
    if not SEVERITY.fullmatch(value.lower()):
        raise ArgError("must be a severity from sev1 (worst) to sev5")
    return value.lower()


def incident(value: str) -> str:
    if not INCIDENT_ID.fullmatch(value.upper()):
        raise ArgError("must be an incident id like INC-7")
    return value.upper()


def title(value: str) -> str:
    _printable(value)
    if not any(c.isalnum() for c in value):
        raise ArgError("must say something: letters or digits, not only punctuation")
    if len(value) > 200:
        raise ArgError("must be at most 200 characters")
    return clean(value).strip()


def note(value: str) -> str:
    """Free text that may span lines (`<text...>`): kept as typed, but for bidi controls and
    line breaks in disguise."""
    if len(value.encode()) > 4096:
        raise ArgError("must be at most 4 KiB; put longer text in a file in the repo")
    value = clean_multiline(value)
    if not value.strip():
        raise ArgError("must not be empty")
    return value


def runbook(value: str) -> str:
    _printable(value)
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", value):
        raise ArgError("must be a runbook name: lowercase letters, digits, '-' or '_' (!runbooks)")
    return value


def params(value: str) -> str:
    """A runbook's parameters, as typed: the runbook's declaration checks them (and refuses a
    newline, which only it can say what to do about)."""
    if len(value.encode()) > 4096:
        raise ArgError("must be at most 4 KiB")
    return value


def run_id(value: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{8}", value.lower()):
        raise ArgError("must be a run id: 8 hexadecimal digits, as the run's reply shows")
    return value.lower()


def choice(*options: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value.lower() not in options:
            raise ArgError(f"must be one of: {', '.join(options)}")
        return value.lower()

    return check


ARG_KINDS: dict[str, Callable[[str], Any]] = {
    "app": name,
    "env": name,
    "source": name,
    "target": name,
    "number": proposal,
    "version": version,
    "duration": duration,
    "commit": revision,
    "command": word,
    "user": user,
    "device": device,
    "key": device_key,
    "sev": severity,
    "incident": incident,
    "title": title,
    "text": note,
    "role": word,
    "user_or_me": user_or_me,
    "state": choice(*INCIDENT_STATES),
    "which": choice("open", "all"),
    "runbook": runbook,
    "params": params,
    "run": run_id,
    "cause": name,  # a commit's first digits, or an app (then followed by <env>)
    "scope": name,  # an environment or an app
}

# Kinds whose words have a recognisable shape: an optional argument of such a kind is taken only
# when the word looks like one, so `!incident open sev2 DB down` and `!incident open DB down`
# both read as intended.
ARG_SHAPES: dict[str, re.Pattern[str]] = {
    "sev": re.compile(r"sev[0-9]+", re.IGNORECASE),
    "incident": re.compile(r"inc-[0-9]+", re.IGNORECASE),
}
