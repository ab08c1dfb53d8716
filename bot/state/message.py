"""The commit message every command writes, and reading it back.

    deploy: web 1.4.2 to prod                      <- summary: "<command>: <what>"

    Requested by Alice in #ops.                    <- body: who, where, why
    Reason: hotfix for the login bug

    Opsbot-Command: !deploy web 1.4.2 to prod --reason "hotfix for the login bug"
    Matrix-Room: !AbCdEf:example.org
    Matrix-Event: $Yz123...

The trailers are what makes `git log --grep` and the index work, so each value is forced onto
one line: a newline in a trailer would end the trailer block and hide the ones after it.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from dulwich.trailers import parse_trailers

from bot.errors import OpsbotError

SUMMARY_MAX = 120


@dataclass(frozen=True)
class Message:
    summary: str
    body: tuple[str, ...] = ()
    trailers: tuple[tuple[str, str], ...] = ()

    def render(self) -> str:
        parts = [_one_line(self.summary)[:SUMMARY_MAX]]
        body = "\n".join(self.body).strip()
        if body:
            parts.append(body)
        if self.trailers:
            parts.append("\n".join(f"{key}: {_one_line(value)}" for key, value in self.trailers))
        return "\n\n".join(parts) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def read_trailers(message: bytes) -> dict[str, str]:
    """The trailers of a commit message; for a key given twice, the last value wins."""
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
