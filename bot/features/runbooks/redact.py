"""What a program printed, made fit to show and to store: decoded whatever the bytes (non-UTF-8
becomes U+FFFD, control characters other than newline and tab are dropped), and redacted: the
values of the secrets it was given, and whatever the runbook's `redact` patterns match, become
`[redacted]` before a line reaches the room, the attachment or Git.

A secret is also recognised as a program is likely to print it: in another letter case,
URL-encoded, JSON- or backslash-escaped, hex- or base64-encoded (encodings.py says how). All of
it is one RE2 pattern (patterns.py), leftmost-longest: linear in the output, whatever the
`redact` patterns are, and matched by the executor in a worker thread.

Where the output was cut (the head and the tail of a long output are kept, a running run shows
a window of its end), a secret cut in two is redacted on both sides of the cut: the start of a
secret that ends a part, the end of one that starts the next. A running run's window is shown
as it grows, and Matrix keeps every edit: there, the end of the window that could be the start
of a secret not printed in full yet is held back until a later look shows what it is.
"""

import re
from collections.abc import Iterable, Sequence

from bot.features.runbooks.encodings import Form, forms, tail_start
from bot.features.runbooks.patterns import Pattern

MARK = "[redacted]"
MIN_SECRET = 4  # a one- or two-character secret would redact half of every output
MIN_PARTIAL = 4  # characters of a secret cut in two that are redacted at the cut
REDACT_MEM = 64 << 20  # bytes RE2 may use for a run's pattern (every secret's every form)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CUT = re.compile(r"(\n\[… [0-9]+ bytes not kept …\]\n)")


def cut_marker(skipped: int) -> bytes:
    """What stands in a kept output for the `skipped` bytes between its head and its tail."""
    return f"\n[… {skipped} bytes not kept …]\n".encode()


class Redactor:
    def __init__(self, patterns: Sequence[str], secrets: Iterable[str]) -> None:
        self._forms: list[Form] = [
            form for secret in secrets if len(secret) >= MIN_SECRET for form in forms(secret)
        ]
        self._ends = [form.reversed() for form in self._forms]
        self._reach = max((form.longest for form in self._forms), default=0)
        # Leftmost-longest: of a secret's full encoding and the fragment inside it, or of a
        # secret and a pattern that match at one place, the longer is redacted.
        parts = [form.regex() for form in self._forms] + [f"(?:{p})" for p in patterns]
        self._pattern = Pattern("|".join(parts), longest=True, mem=REDACT_MEM) if parts else None

    def text(self, data: bytes, *, cut_before: bool = False) -> str:
        """`data` decoded, cleaned and redacted, also at its cuts (and at its start when
        `cut_before`: a window whose beginning was dropped)."""
        pieces = _CUT.split(printable(data))  # text, marker, text, ...
        last = len(pieces) - 1
        for i in range(0, len(pieces), 2):
            piece = self(pieces[i])
            if i > 0 or cut_before:
                piece = self._cut_start(piece)
            if i < last:
                piece = self._cut_end(piece)
            pieces[i] = piece
        return "".join(pieces)

    def live(self, data: bytes, *, cut_before: bool = False) -> str:
        """What a running run's window may show now: `data` as `text` makes it, less its end
        where that could be the beginning of a secret (in any of its forms) printed in part."""
        text = printable(data)
        shown = self._redact(text, tail_start(self._forms, text, 1))
        return self._cut_start(shown) if cut_before else shown

    def __call__(self, text: str) -> str:
        return self._redact(text, None)

    def _redact(self, text: str, hold: int | None) -> str:
        """`text` redacted, up to `hold` (a match that goes past it is redacted whole)."""
        end = len(text) if hold is None else hold
        if self._pattern is None:
            return text[:end]
        out: list[str] = []
        done = 0
        for start, stop in self._pattern.spans(text):
            if start >= end:
                break
            if stop == start:
                continue  # a pattern that matches nothing would mark every gap
            out += [text[done:start], MARK]
            done = stop
            if stop >= end:
                return "".join(out)
        out.append(text[done:end])
        return "".join(out)

    def _cut_end(self, text: str) -> str:
        """`text` without the start of a secret it ends with."""
        start = tail_start(self._forms, text, MIN_PARTIAL)
        return text if start is None else text[:start] + MARK

    def _cut_start(self, text: str) -> str:
        """`text` without the end of a secret it starts with."""
        head = text[: self._reach][::-1]
        start = tail_start(self._ends, head, MIN_PARTIAL)
        return text if start is None else MARK + text[len(head) - start :]


def printable(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    return _CONTROL.sub("", text)
