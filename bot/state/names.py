"""What the name of an app or an environment, and a version, may look like, wherever it comes from.

Commands check their arguments against these patterns, and records read from the repo are
checked against the same ones: a name (a file name in the repo) and a version (a field) end up
in a hook's argv, and what no command could write must not get there through a hand edit either.
Neither may start with `-`, so a hook never takes one for an option.

The patterns are anchored with `\\A` and `\\Z`: `$` would also match before a final newline.
"""

import re

NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]*\Z")
VERSION = re.compile(r"\Av?[0-9]+(\.[0-9]+){0,3}([-+][0-9A-Za-z][0-9A-Za-z.+-]*)?\Z")
MAX_NAME = 64


def name_problem(value: str) -> str | None:
    """Why `value` is not a valid app or environment name, or None when it is."""
    if len(value) > MAX_NAME:
        return f"must be at most {MAX_NAME} characters"
    if ".." in value or not NAME.fullmatch(value):
        return "must start with a letter or digit, then letters, digits, '.', '-' or '_' (no '..')"
    return None


def version_problem(value: str) -> str | None:
    """Why `value` is not a valid version, or None when it is."""
    if len(value) > MAX_NAME or not VERSION.fullmatch(value):
        return "must be a plain version like 1.4.2, v2.0 or 1.4.2-rc.1"
    return None
