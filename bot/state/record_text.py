"""A record's TOML text written without a TOML round-trip, where that gives the same bytes.

`records.encode` keeps every comment and key order of the file it replaces, through tomlkit,
whose parse is the largest share of a deploy's own time. Nearly every record file is one opsbot
wrote: a comment header, then flat keys of strings, whole numbers, booleans, UTC times and lists
of strings. For such a file, `plain` writes what tomlkit would, with no parse; for anything else
(a comment of a person's among the keys, a table, a float, a time in another zone) it answers
None, and the caller takes the round-trip. tests/unit/state/test_record_text.py holds it to
tomlkit's bytes.
"""

import tomllib
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"'}
_ESCAPES["\\"] = "\\\\"


def plain(
    previous: str | None,
    header: str | None,
    values: Mapping[str, Any],
    at_default: Collection[str] = (),
) -> str | None:
    """The text of a record whose fields are `values` (None: left out; one `at_default` is
    written only where `previous` had it), replacing `previous` as tomlkit would; None where
    only the round-trip can tell."""
    if previous:
        lines = previous.splitlines(keepends=True)
        comments = [line for line in lines if line.startswith("#")]
        if lines[: len(comments)] != comments:
            return None  # a comment among the keys
        try:
            old = tomllib.loads(previous)
        except tomllib.TOMLDecodeError:
            return None
        head = "".join(comments)
        if _body(old) is None or head + (_body(old) or "") != previous:
            return None
        keys = list(old)
    else:
        head = "".join(f"# {line}\n" if line else "#\n" for line in (header or "").splitlines())
        keys = []
        old = {}
    merged: dict[str, Any] = {}
    for key in keys:
        if key not in values:
            merged[key] = old[key]  # a key opsbot does not know: kept as it is
        elif values[key] is not None:
            merged[key] = values[key]
    for key, value in values.items():
        if key not in old and value is not None and key not in at_default:
            merged[key] = value
    body = _body(merged)
    return None if body is None else head + body


def _body(values: Mapping[str, Any]) -> str | None:
    lines = []
    for key, value in values.items():
        text = _value(value)
        if text is None or not key.replace("_", "a").replace("-", "a").isalnum():
            return None
        if not key.isascii():
            return None
        lines.append(f"{key} = {text}\n")
    return "".join(lines)


def _value(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() or value.tzinfo is not UTC:
            return None
        if value.microsecond:
            return None
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return "[" + ", ".join(_string(v) for v in value) + "]"
    return None


def _string(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char < " " or char == "\x7f":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'
