"""What a program printed, made fit to show and to store: decoded whatever the bytes (non-UTF-8
becomes U+FFFD, control characters other than newline and tab are dropped), and redacted: the
values of the secrets it was given, and whatever the runbook's `redact` patterns match, become
`[redacted]` before a line reaches the room, the attachment or Git.

A secret is also recognised as a program is likely to print it encoded: base64 (standard and
URL-safe alphabets, alone or in the middle of a longer base64 text, at any of its three byte
alignments) and URL-encoding (`%2F`, either case, and `+` for a space). Where the output was cut
(the head and the tail of a long output are kept, a running run shows a window of its end), a
secret cut in two is redacted on both sides of the cut: the start of a secret that ends a part,
the end of one that starts the next.
"""

import base64
import re
import urllib.parse
from collections.abc import Iterable, Sequence

MARK = "[redacted]"
MIN_SECRET = 4  # a one- or two-character secret would redact half of every output
MIN_ENCODED = 6  # shorter base64 fragments would match ordinary words
MIN_PARTIAL = 4  # characters of a secret cut in two that are redacted at the cut
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CUT = re.compile(r"(\n\[… [0-9]+ bytes not kept …\]\n)")


def cut_marker(skipped: int) -> bytes:
    """What stands in a kept output for the `skipped` bytes between its head and its tail."""
    return f"\n[… {skipped} bytes not kept …]\n".encode()


class Redactor:
    def __init__(self, patterns: Sequence[str], secrets: Iterable[str]) -> None:
        literal: set[str] = set()
        for secret in secrets:
            if len(secret) >= MIN_SECRET:
                literal.add(secret)
                literal.update(v for v in encodings(secret) if len(v) >= MIN_ENCODED)
        # Longest first: a secret's full encoding wins over the fragment inside it.
        ordered = sorted(literal, key=len, reverse=True)
        self._literals = ordered
        parts = [re.escape(s) for s in ordered] + [f"(?:{p})" for p in patterns]
        self._pattern = re.compile("|".join(parts)) if parts else None

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

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MARK, text)

    def _cut_end(self, text: str) -> str:
        """`text` without the start of a secret it ends with."""
        longest = max(
            (k for s in self._literals for k in range(len(s) - 1, MIN_PARTIAL - 1, -1)
             if text.endswith(s[:k])), default=0,
        )  # fmt: skip
        return text[:-longest] + MARK if longest else text

    def _cut_start(self, text: str) -> str:
        """`text` without the end of a secret it starts with."""
        longest = max(
            (k for s in self._literals for k in range(len(s) - 1, MIN_PARTIAL - 1, -1)
             if text.startswith(s[-k:])), default=0,
        )  # fmt: skip
        return MARK + text[longest:] if longest else text


def encodings(secret: str) -> set[str]:
    """How `secret` may appear once encoded, other than as itself."""
    raw = secret.encode()
    found: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        found.add(encode(raw).decode())  # alone, with its padding
        for offset in range(3):
            # Inside a longer text, the characters that come from the secret's bytes alone:
            # after the `offset` bytes before it, before whatever follows it.
            encoded = encode(b"\0" * offset + raw).decode()
            start = -(-8 * offset // 6)
            end = 8 * (offset + len(raw)) // 6
            found.add(encoded[start:end])
    for quoted in (urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret, safe="")):
        found.add(quoted)
        found.add(re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quoted))
    found.discard(secret)
    return found


def printable(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    return _CONTROL.sub("", text)
