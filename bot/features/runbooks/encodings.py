"""How a secret may appear in what a program prints: as itself in any letter case; with any of
its characters URL-encoded (`%2F` or `%2f`, `+` for a space: Python's `quote` and `quote_plus`
whatever their `safe`, curl's `--data-urlencode`, JavaScript's `encodeURIComponent`), escaped as
JSON writes it (`\\"`, `\\/`, `\\u00e9`, `\\n`) or as a shell or a regex quotes it (`\\@`);
hex-encoded (either case); base64-encoded (standard and URL-safe alphabets, alone with its
padding, or in the middle of a longer base64 text at any of its three byte alignments).

Each way is a `Form`: a sequence of steps, each step one piece of the secret with the strings
that may stand for it. A form gives the regular expression that finds it whole (redact.py
joins them into one RE2 pattern) and answers what a regular expression cannot: whether the
end of a text could be the beginning of it (a secret cut in two, or not written in full yet).
"""

import base64
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass

MIN_ENCODED = 6  # shorter base64 fragments would match ordinary words


@dataclass(frozen=True)
class Form:
    steps: tuple[tuple[str, ...], ...]  # per piece, what may stand for it (lower case if `fold`)
    fold: bool  # letters match in either case

    def regex(self) -> str:
        parts = []
        for step in self.steps:
            options = sorted(step, key=len, reverse=True)
            if len(options) == 1:
                parts.append(_escape(options[0]))
            else:
                parts.append("(?:" + "|".join(_escape(o) for o in options) + ")")
        joined = "".join(parts)
        return f"(?i:{joined})" if self.fold else joined

    @functools.cached_property
    def longest(self) -> int:
        """The most characters a match of it may take."""
        return sum(max(len(o) for o in step) for step in self.steps)

    @functools.cached_property
    def first(self) -> frozenset[str]:
        """The characters a match of it may begin with (lower case if it folds)."""
        return frozenset(o[0] for o in self.steps[0] if o) if self.steps else frozenset()

    def reversed(self) -> "Form":
        """The form read from its end: for the end of a secret at the start of a text."""
        return Form(tuple(tuple(o[::-1] for o in step) for step in reversed(self.steps)), self.fold)

    def begun_at(self, text: str, start: int) -> bool:
        """Whether `text[start:]`, not empty, is the beginning of this form but not all of it."""
        if start >= len(text):
            return False
        at = {start}
        for step in self.steps:
            after: set[int] = set()
            for pos in at:
                if pos == len(text):
                    return True  # the text ended between two pieces
                for option in step:
                    seen = text[pos : pos + len(option)]
                    if self.fold:
                        seen = seen.lower()
                    if seen == option:
                        after.add(pos + len(option))
                    elif pos + len(option) > len(text) and option.startswith(seen):
                        return True  # the text ended inside this piece
            if not after:
                return False
            at = after
        return False  # whole: the pattern finds it


def forms(secret: str) -> list[Form]:
    """The ways `secret` is looked for."""
    raw = secret.encode()
    found = [
        Form(tuple(_spellings(c) for c in secret), fold=True),
        Form(tuple((c,) for c in raw.hex()), fold=True),
    ]
    found += [Form(tuple((c,) for c in b), fold=False) for b in sorted(_base64(raw))]
    return found


def _spellings(c: str) -> tuple[str, ...]:
    """What may stand for the character `c` in a text that encoded or escaped it."""
    found = {c.lower(), json.dumps(c)[1:-1].lower()}
    found.add("".join(f"%{b:02x}" for b in c.encode()))
    utf16 = c.encode("utf-16-be")
    found.add("".join(f"\\u{utf16[i : i + 2].hex()}" for i in range(0, len(utf16), 2)))
    if c == " ":
        found.add("+")
    if not c.isalnum():
        found.add("\\" + c.lower())
    return tuple(sorted(found))


def _base64(raw: bytes) -> set[str]:
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
    return {f for f in found if len(f) >= MIN_ENCODED}


def _escape(text: str) -> str:
    """`text` as an RE2 pattern that matches it literally, whatever characters it holds."""
    return "".join(c if c.isascii() and c.isalnum() else f"\\x{{{ord(c):x}}}" for c in text)


def tail_start(found: Sequence[Form], text: str, least: int) -> int | None:
    """Where the longest end of `text` (of `least` characters at least) that could be the
    beginning of one of `found` starts; None when there is none."""
    reach = max((f.longest for f in found), default=0)
    for start in range(max(0, len(text) - reach), len(text) - least + 1):
        char = text[start]
        for form in found:
            if (char.lower() if form.fold else char) in form.first and form.begun_at(text, start):
                return start
    return None
