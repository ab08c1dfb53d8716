"""The commit message every command writes, and reading it back.

    deploy: web 1.4.2 to prod                      <- summary: "<command>: <what>"

    Requested by Alice in #ops.                    <- body: who, where, why
    Reason: fixes the login bug

    Opsbot-Command: !deploy web 1.4.2 to prod --reason "fixes the login bug"
    Matrix-Room: !AbCdEf:example.org
    Matrix-Event: $Yz123...

Trailers are written for people and `git log --grep`; nothing opsbot decides is read back from
a message (approvals, proposals and environments live in files of the signed tree, handled
events in the journal). Still, a message must say what opsbot wrote and nothing else: every
line of it goes through `bot.core.text.clean` (so no text can start a line of its own, whichever
line breaks a reader honours), and no body line can look like the `---` that ends the part of a
message Git reads for trailers, which would make the body's last paragraph the trailer block.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from dulwich.trailers import parse_trailers

from bot.core.errors import OpsbotError
from bot.core.text import clean

SUMMARY_MAX = 120


@dataclass(frozen=True)
class Message:
    summary: str
    body: tuple[str, ...] = ()
    trailers: tuple[tuple[str, str], ...] = ()

    def render(self) -> str:
        parts = [_line(self.summary)[:SUMMARY_MAX].rstrip()]
        body = [_line(line) for line in self.body]
        if any(body):
            parts.append("\n".join(body).strip("\n"))
        trailers = [(key, one_line(value)) for key, value in self.trailers]
        if any(value for _, value in trailers):
            parts.append("\n".join(f"{key}: {value}" for key, value in trailers if value))
        return "\n\n".join(parts) + "\n"


def one_line(text: str) -> str:
    """Outside text as it may appear in a message: one line, single spaces."""
    return " ".join(clean(text).split())


def _line(text: str) -> str:
    line = one_line(text)
    # Git ends the message it reads for trailers at a line starting with `---` (a patch).
    return "- " + line[1:] if line.startswith("---") else line


def read_trailers(message: bytes) -> dict[str, str]:
    """The trailers of a commit message, for showing; for a key given twice, the last value
    wins. Never a basis for a decision: anyone can write any message."""
    _, trailers = parse_trailers(message)
    return {t.key: t.value for t in trailers}


def summary_of(message: bytes) -> str:
    return message.decode("utf-8", "replace").split("\n", 1)[0]


def check_trailer_key(key: str) -> None:
    if not key or not all(c.isalnum() or c == "-" for c in key):
        raise OpsbotError(f"not a valid trailer key: {key!r}")


def trailers_from(pairs: Sequence[tuple[str, str | None]]) -> tuple[tuple[str, str], ...]:
    """Drops the pairs whose value is missing, so callers can list optional trailers inline."""
    for key, _ in pairs:
        check_trailer_key(key)
    return tuple((key, value) for key, value in pairs if value)
