"""The typed parameters of a runbook: how each is declared, checked and shown in a usage line.

A value typed in chat only ever becomes one argv element or one environment value (never a
shell word), so quoting tricks do nothing; still, every value is checked against its type
before anything runs, and a value that starts with "-" (an option smuggled into argv), holds a
control character (a newline) or is longer than its type allows is refused with the shape
wanted. A `regex` parameter's pattern is the repo's: it is matched by RE2 (patterns.py), in time
linear in the value, and one RE2 cannot match that way is refused when the declaration is read.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.errors import InvalidRecord
from bot.features.runbooks.patterns import PatternError, compile_pattern

PARAM_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
TYPES = ("enum", "regex", "integer", "duration", "app", "env")
MAX_VALUE = 200
_DURATION = re.compile(r"(?:([0-9]{1,6})h)?(?:([0-9]{1,6})m)?(?:([0-9]{1,6})s)?")
_INTEGER = re.compile(r"-?[0-9]{1,18}")


class ParamError(ValueError):
    """A value that does not fit its parameter; the message says which shape it wants."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    help: str = ""
    default: str | None = None  # None: required
    values: tuple[str, ...] = ()  # enum
    pattern: str | None = None  # regex, matched whole
    minimum: int | None = None  # integer, duration (seconds)
    maximum: int | None = None

    @property
    def required(self) -> bool:
        return self.default is None

    def shape(self) -> str:
        """How the usage line shows the value: `<orders|users>`, `<1-1000>`, `<app>`."""
        if self.type == "enum":
            return "|".join(self.values)
        if self.type == "integer":
            return f"{self.minimum}-{self.maximum}"
        if self.type == "duration":
            return f"duration {_seconds_text(self.minimum)}-{_seconds_text(self.maximum)}"
        if self.type == "regex":
            return self.name
        return self.type

    def usage(self) -> str:
        word = f"{self.name}=<{self.shape()}>"
        return word if self.required else f"[{word}]"

    def describe(self) -> str:
        default = f" (default {self.default})" if self.default is not None else " (required)"
        extra = f"; matches {self.pattern}" if self.type == "regex" else ""
        return f"{self.name}: {self.help or self.type}{extra}{default}"

    def check(self, value: str, apps: Mapping[str, Any], envs: Mapping[str, Any]) -> str:
        """The value as it goes into argv, or ParamError saying what shape it wants."""
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ParamError("must not contain control characters (no newlines)")
        if len(value) > MAX_VALUE:
            raise ParamError(f"must be at most {MAX_VALUE} characters")
        if self.type == "integer":
            if not _INTEGER.fullmatch(value):
                raise ParamError(f"must be a whole number from {self.minimum} to {self.maximum}")
            number = int(value)
            assert self.minimum is not None and self.maximum is not None
            if not self.minimum <= number <= self.maximum:
                raise ParamError(f"must be a whole number from {self.minimum} to {self.maximum}")
            return str(number)
        if value.startswith("-"):
            raise ParamError("must not start with '-' (it would read as an option)")
        if self.type == "enum":
            if value not in self.values:
                raise ParamError(f"must be one of: {', '.join(self.values)}")
            return value
        if self.type == "regex":
            assert self.pattern is not None
            if not compile_pattern(self.pattern).fullmatch(value):
                raise ParamError(f"must match {self.pattern}")
            return value
        if self.type == "duration":
            seconds = duration_seconds(value)
            assert self.minimum is not None and self.maximum is not None
            if seconds is None or not self.minimum <= seconds <= self.maximum:
                low, high = _seconds_text(self.minimum), _seconds_text(self.maximum)
                raise ParamError(f"must be a duration like 30s, 5m or 1h, from {low} to {high}")
            return str(seconds)
        known = apps if self.type == "app" else envs
        if value not in known:
            raise ParamError(f"must be one of the {self.type}s: {', '.join(sorted(known))}")
        return value


def duration_seconds(value: str) -> int | None:
    match = _DURATION.fullmatch(value.lower())
    if not value or match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _seconds_text(seconds: int | None) -> str:
    seconds = seconds or 0
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def decode_param(path: str, name: str, table: Any) -> Param:
    """One `[params.<name>]` table; InvalidRecord naming the field that is wrong."""
    where = f"params.{name}"
    if not PARAM_NAME.fullmatch(name):
        raise InvalidRecord(path, where, "a parameter name is lowercase letters, digits and _")
    if not isinstance(table, dict):
        raise InvalidRecord(path, where, "must be a table: [params.<name>] type = ...")
    known = {"type", "help", "default", "values", "pattern", "min", "max"}
    for key in table:
        if key not in known:
            raise InvalidRecord(
                path, f"{where}.{key}", f"unknown (known: {', '.join(sorted(known))})"
            )
    kind = table.get("type")
    if kind not in TYPES:
        raise InvalidRecord(path, f"{where}.type", f"must be one of: {', '.join(TYPES)}")
    help_text = table.get("help", "")
    if not isinstance(help_text, str):
        raise InvalidRecord(path, f"{where}.help", "must be a string")
    values: tuple[str, ...] = ()
    pattern: str | None = None
    low: int | None = None
    high: int | None = None
    if kind == "enum":
        raw = table.get("values")
        if not isinstance(raw, list) or not raw or not all(_plain(v) for v in raw):
            raise InvalidRecord(
                path, f"{where}.values", "must be a list of words (not starting with '-')"
            )
        values = tuple(raw)
    elif kind == "regex":
        raw_pattern = table.get("pattern")
        if not isinstance(raw_pattern, str) or not raw_pattern:
            raise InvalidRecord(path, f"{where}.pattern", "missing: the pattern a value matches")
        try:
            compile_pattern(raw_pattern)
        except PatternError as e:
            raise InvalidRecord(path, f"{where}.pattern", f"{raw_pattern!r}: {e}") from None
        pattern = raw_pattern
    elif kind in ("integer", "duration"):
        low, high = _bound(path, where, table, "min"), _bound(path, where, table, "max")
        if kind == "duration":
            low = 1 if low is None else low
        if low is None or high is None or low > high:
            raise InvalidRecord(path, where, "needs min and max, with min <= max")
    default = table.get("default")
    if isinstance(default, int) and not isinstance(default, bool):
        default = str(default)
    if default is not None and not isinstance(default, str):
        raise InvalidRecord(path, f"{where}.default", "must be a string or a whole number")
    param = Param(name, kind, help_text, default, values, pattern, low, high)
    if default is not None and kind not in ("app", "env"):  # apps may come and go
        try:
            param.check(default, {}, {})
        except ParamError as e:
            raise InvalidRecord(path, f"{where}.default", f"{default!r} {e}") from None
    return param


def _bound(path: str, where: str, table: dict[str, Any], key: str) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        seconds = duration_seconds(value)
        if seconds is None:
            raise InvalidRecord(path, f"{where}.{key}", "must be a number or a duration like 5m")
        return seconds
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRecord(path, f"{where}.{key}", "must be a whole number")
    return value


def _plain(value: Any) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_VALUE
        and not value.startswith("-")
        and value.isprintable()
    )
