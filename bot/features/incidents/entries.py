"""One entry of an incident's timeline, as data: what happened or was said, when, by whom, and
the facts the bot reads back (never from the text). Written and read by timeline.py."""

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

KINDS = ("event", "note", "said", "file", "alert")
"""event: done with a command; note: `!incident note`; said, file: in the incident's room (the
transcript); alert: an Alertmanager alert firing or resolved."""
TRANSCRIPT = ("said", "file")
_FACT = re.compile(r"[a-z][a-z_]{0,31}")
_KEYS = {"at", "who", "kind", "text", "facts"}


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    who: str  # a Matrix user id
    kind: str  # one of KINDS
    text: str  # as typed or as the bot wrote it; shown on one line
    facts: Mapping[str, str] = field(default_factory=dict)
    """What the bot reads back, never taken from `text`: the severity an event set (`severity`,
    `was`, `reason`), the alert an entry is about (`status`, `fingerprint`, `since`)."""

    @property
    def is_transcript(self) -> bool:
        return self.kind in TRANSCRIPT


def entry(at: datetime, who: str, kind: str, text: str, **facts: str) -> TimelineEntry:
    """An entry to append: the time in UTC to the second, the text as given (a lone surrogate,
    which no file can hold, becomes U+FFFD)."""
    if kind not in KINDS:
        raise ValueError(f"not a timeline entry kind: {kind!r}")
    if not all(_FACT.fullmatch(key) for key in facts):
        raise ValueError(f"not a fact name: {sorted(facts)!r}")
    return TimelineEntry(
        at=at.astimezone(UTC).replace(microsecond=0),
        who=who,
        kind=kind,
        text=_storable(text),
        facts=dict(facts),
    )


def event(at: datetime, who: str, text: str, **facts: str) -> TimelineEntry:
    """Something done with a command."""
    return entry(at, who, "event", text, **facts)


def note(at: datetime, who: str, text: str) -> TimelineEntry:
    return entry(at, who, "note", text)


def said(at: datetime, who: str, text: str) -> TimelineEntry:
    """A message in the incident's room (for the transport)."""
    return entry(at, who, "said", text)


def shared_file(at: datetime, who: str, name: str) -> TimelineEntry:
    """A file shared in the incident's room (for the transport)."""
    return entry(at, who, "file", name)


def _storable(text: str) -> str:
    return "".join("\ufffd" if unicodedata.category(c) == "Cs" else c for c in text)
