"""What a program printed, made fit to show and to store: decoded whatever the bytes (non-UTF-8
becomes U+FFFD, control characters other than newline and tab are dropped), and redacted: the
values of the secrets it was given, and whatever the runbook's `redact` patterns match, become
`[redacted]` before a line reaches the room, the attachment or Git."""

import re
from collections.abc import Iterable, Sequence

MARK = "[redacted]"
MIN_SECRET = 4  # a one- or two-character secret would redact half of every output
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class Redactor:
    def __init__(self, patterns: Sequence[str], secrets: Iterable[str]) -> None:
        literal = sorted({s for s in secrets if len(s) >= MIN_SECRET}, key=len, reverse=True)
        parts = [re.escape(s) for s in literal] + [f"(?:{p})" for p in patterns]
        self._pattern = re.compile("|".join(parts)) if parts else None

    def text(self, data: bytes) -> str:
        """`data` decoded, cleaned and redacted."""
        return self(printable(data))

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MARK, text)


def printable(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    return _CONTROL.sub("", text)
