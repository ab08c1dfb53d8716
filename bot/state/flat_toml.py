"""Reading the flat records opsbot writes, faster than `tomllib` and to the same values.

A cold index reads every deployment record main ever held: 100,000 of them, four lines each,
about 24 us each through `tomllib` (pure Python, general). Nearly all are as opsbot writes
them (bot/state/record_text.py): comment lines, then `key = value` lines of strings without
escapes, whole numbers, booleans and UTC times to the second. `loads` reads such a text line by
line with one pattern; for anything else (a table, an escape, a duplicate key, an impossible
date, a comment after a value) it hands the whole text to `tomllib`, which reads it, or raises
as it always did. tests/unit/state/test_flat_toml.py holds it to `tomllib`'s answers.
"""

import re
import tomllib
from datetime import UTC, datetime
from typing import Any

# One line: empty, a comment, or a bare key, " = " and a value of the kinds above. A control
# character (other than tab) is an error in TOML, in a comment or a string: left to tomllib.
_LINE = re.compile(
    r"(?:#[^\x00-\x08\x0a-\x1f\x7f]*)?"
    r"|(?P<key>[A-Za-z0-9_-]+) = (?:"
    r'"(?P<str>[^"\\\x00-\x08\x0a-\x1f\x7f]*)"'
    r"|(?P<int>0|[1-9][0-9]*)"
    r"|(?P<bool>true|false)"
    r"|(?P<at>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})Z"
    r")"
)


def loads(text: str) -> dict[str, Any]:
    """`tomllib.loads(text)`: the same table, or the same error."""
    return _flat(text) or tomllib.loads(text)


def _flat(text: str) -> dict[str, Any] | None:
    """The table of a flat text, or None where only tomllib can tell (an empty text too)."""
    table: dict[str, Any] = {}
    for line in text.split("\n"):
        found = _LINE.fullmatch(line)
        if found is None:
            return None
        key = found["key"]
        if key is None:
            continue
        if key in table:
            return None
        if (value := found["str"]) is not None:
            table[key] = value
        elif (value := found["int"]) is not None:
            table[key] = int(value)
        elif (value := found["bool"]) is not None:
            table[key] = value == "true"
        else:
            at = found["at"]
            try:  # as tomllib builds it, from the same fields
                table[key] = datetime(
                    int(at[0:4]), int(at[5:7]), int(at[8:10]),
                    int(at[11:13]), int(at[14:16]), int(at[17:19]), tzinfo=UTC,
                )  # fmt: skip
            except ValueError:  # 2026-02-30: tomllib says why
                return None
    return table or None
