"""Regular expressions that come from the repo (a `regex` parameter's pattern, a runbook's
`redact` patterns), matched by RE2: its time is linear in the text, whatever the pattern, where
Python's `re` backtracks and a nested quantifier (`(a+)+`, `([a-z]+(-?[a-z]+)*\\.)+`) takes time
that doubles with each character. RE2 has no backreferences and no lookaround, which are what
need backtracking, so a pattern that uses them is refused when the declaration is read. RE2
also leaves the GIL while it matches, so a match in a worker thread never holds up the event
loop.
"""

import functools
from collections.abc import Iterator
from typing import Any

import re2

PATTERN_MEM = 8 << 20  # bytes RE2 may use for one pattern: a pattern past it is refused
SYNTAX = (
    "patterns are matched in linear time (RE2 syntax): no backreferences (\\1) and no "
    "lookaround ((?=, (?!, (?<=, (?<!); write \\z for the end of the text"
)


class PatternError(ValueError):
    """A pattern RE2 will not compile; the message says why and what is supported."""


class Pattern:
    """One compiled pattern: matched whole (`fullmatch`) or searched for (`spans`)."""

    def __init__(self, pattern: str, *, longest: bool = False, mem: int = PATTERN_MEM) -> None:
        options = re2.Options()
        options.log_errors = False  # the error comes back to the caller, not to stderr
        options.max_mem = mem
        options.longest_match = longest
        try:
            # Not `re2.compile`: its cache would keep every redactor's pattern (the secrets in
            # it, and up to `mem` bytes each) alive after its run.
            self._compiled: Any = re2._Regexp(pattern, options)
        except re2.error as e:
            why = e.args[0] if e.args else "not supported"
            if isinstance(why, bytes):
                why = why.decode(errors="replace")
            raise PatternError(f"{why}; {SYNTAX}") from None
        self.pattern = pattern

    def fullmatch(self, text: str) -> bool:
        return self._compiled.fullmatch(text) is not None

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        """Where it matches in `text`, left to right, without overlaps."""
        for match in self._compiled.finditer(text):
            yield match.start(), match.end()


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Pattern:
    """A pattern from the repo compiled (once: a declaration is read at every `!run`), or
    PatternError saying what RE2 did not accept."""
    return Pattern(pattern)
