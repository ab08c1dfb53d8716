"""An incident's timeline: what happened and what was said, kept as data, rendered for people.

    incidents/INC-7/timeline/0001.toml   its first entries (at most CHUNK_ENTRIES), oldest first
    incidents/INC-7/timeline/0002.toml   the next ones, and so on
    incidents/INC-7/timeline.md          the timeline as releases before chunks wrote it: read,
                                         never written (see timeline_legacy.py)

Each entry is one `[[entry]]` table, written on a few lines of its own:

    [[entry]]
    at = 2026-11-26T14:05:00Z
    who = "@alice:example.org"
    kind = "note"
    text = "failing over to the replica"

Entries are data, not prose, because a timeline of prose had to be parsed back, and a note with a
line separator in it could forge an entry by someone else. Here every text is one TOML string
(line breaks and other invisible characters escaped), reading never looks inside it, and the
Markdown and plain renderings put a text on one line after its time and author, escaped.

The timeline is split into chunks because each commit stores every file it changes whole: one
file rewritten by every note made the repo grow with the square of the timeline. A chunk takes
at most `CHUNK_ENTRIES` entries or `CHUNK_BYTES`, so a commit adds at most one small file's worth.
"""

import json
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.core.errors import InvalidRecord
from bot.core.ids import USER_ID
from bot.features.incidents.entries import (
    _FACT,
    _KEYS,
    KINDS,
    TimelineEntry,
    _storable,
    entry,
)
from bot.features.incidents.timeline_legacy import legacy_entries

if TYPE_CHECKING:
    from bot.state.view import StateView

CHUNK_ENTRIES = 20
CHUNK_BYTES = 16 * 1024

_CHUNK = re.compile(r"([0-9]{4,9})\.toml")


# Where


def timeline_dir(incident: str) -> str:
    return f"incidents/{incident}/timeline"


def chunk_path(incident: str, number: int) -> str:
    return f"{timeline_dir(incident)}/{number:04d}.toml"


def legacy_path(incident: str) -> str:
    return f"incidents/{incident}/timeline.md"


def _chunk_numbers(view: "StateView", incident: str) -> list[int]:
    names = view.snapshot.list(timeline_dir(incident))
    return sorted(int(m.group(1)) for name in names if (m := _CHUNK.fullmatch(name)))


# Writing: only ever appended to


def encode_entry(item: TimelineEntry) -> str:
    """The `[[entry]]` table of `item`, starting with a blank line; every string on one line."""
    lines = [
        "",
        "[[entry]]",
        f"at = {item.at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
        f"who = {_string(item.who)}",
        f"kind = {_string(item.kind)}",
        f"text = {_string(item.text)}",
    ]
    if item.facts:
        shown = ", ".join(
            f"{key if _FACT.fullmatch(key) else _string(key)} = {_string(value)}"
            for key, value in item.facts.items()
        )
        lines.append(f"facts = {{ {shown} }}")
    return "\n".join(lines) + "\n"


def _string(text: str) -> str:
    """A TOML basic string. Control characters, line and paragraph separators and other
    invisible characters are escaped, so a text is one line of the file and `git log -p` shows
    exactly what it holds."""
    out = []
    for c in text:
        category = unicodedata.category(c)
        if c in '"\\':
            out.append("\\" + c)
        elif category == "Cs":
            out.append("\\uFFFD")
        elif category in ("Cc", "Cf", "Zl", "Zp"):
            out.append(f"\\u{ord(c):04X}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08X}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _header(incident: str, number: int) -> str:
    return (
        f"# The timeline of {incident}, part {number}: one [[entry]] per event, oldest first.\n"
        f"# Written by opsbot, which only ever appends; part {number + 1} follows when this one "
        "is full.\n"
    )


def appended(view: "StateView", incident: str, entries: Sequence[TimelineEntry]) -> dict[str, str]:
    """The chunk files to write so that `entries` follow the incident's timeline: the last chunk
    takes them while it has room, then new chunks do. What a chunk holds is never rewritten,
    only added to; a last chunk that does not read back (a bad hand edit) is left as it is."""
    if not entries:
        return {}
    numbers = _chunk_numbers(view, incident)
    if numbers:
        last = numbers[-1]
        readable = _readable(view, chunk_path(incident, last))
        if readable is not None:
            text, count = readable
            files = _fill(incident, last, text, count, entries)
            if _reads_back(files.get(chunk_path(incident, last)), count, entries):
                return files
        return _fill(incident, last, "", CHUNK_ENTRIES, entries)
    return _fill(incident, 0, "", CHUNK_ENTRIES, entries)


def _fill(
    incident: str, number: int, text: str, count: int, entries: Sequence[TimelineEntry]
) -> dict[str, str]:
    files: dict[str, str] = {}
    for item in entries:
        block = encode_entry(item)
        full = count >= CHUNK_ENTRIES or (count > 0 and len((text + block).encode()) > CHUNK_BYTES)
        if full:
            number, text, count = number + 1, _header(incident, number + 1), 0
        text += block
        count += 1
        files[chunk_path(incident, number)] = text
    return files


def _readable(view: "StateView", path: str) -> tuple[str, int] | None:
    """(text, number of entries) of a chunk that reads, else None."""
    data = view.snapshot.read(path)
    if data is None:
        return None
    try:
        text = data.decode("utf-8")
        entries = tomllib.loads(text).get("entry", [])
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    if not isinstance(entries, list):
        return None
    return (text if text.endswith("\n") or not text else text + "\n"), len(entries)


def _reads_back(text: str | None, before: int, entries: Sequence[TimelineEntry]) -> bool:
    """Whether the last chunk, appended to, still reads with the new entries in it (a hand edit
    could have made `[[entry]]` tables impossible to add, e.g. `entry = [...]`)."""
    if text is None:
        return True  # it was full: nothing was added to it
    try:
        found = tomllib.loads(text).get("entry")
    except tomllib.TOMLDecodeError:
        return False
    return isinstance(found, list) and before < len(found) <= before + len(entries)


# Reading: every chunk, a bad record reported and skipped


@dataclass(frozen=True)
class Timeline:
    entries: tuple[TimelineEntry, ...]
    problems: tuple[InvalidRecord, ...] = ()

    def events(self) -> list[TimelineEntry]:
        """What was done and noted (not the transcript), in order."""
        return [e for e in self.entries if not e.is_transcript]


def read(view: "StateView", incident: str) -> Timeline:
    """The whole timeline of `incident`, oldest first: the old `timeline.md` if there is one,
    then every chunk. A chunk or an entry that does not read is left out and reported."""

    found: list[TimelineEntry] = []
    problems: list[InvalidRecord] = []
    old = view.snapshot.read(legacy_path(incident))
    if old is not None:
        found += legacy_entries(old.decode("utf-8", errors="replace"))
    for number in _chunk_numbers(view, incident):
        path = chunk_path(incident, number)
        entries, bad = decode_chunk(path, view.snapshot.read(path) or b"")
        found += entries
        problems += bad
    return Timeline(tuple(found), tuple(problems))


def decode_chunk(path: str, data: bytes) -> tuple[list[TimelineEntry], list[InvalidRecord]]:
    """The entries of one chunk that read, and what is wrong with the others."""
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return [], [InvalidRecord(path, None, "not UTF-8 text")]
    except tomllib.TOMLDecodeError as e:
        return [], [InvalidRecord(path, None, f"not valid TOML ({e})")]
    problems = [
        InvalidRecord(path, key, "unknown key (entries are [[entry]] tables)")
        for key in document
        if key != "entry"
    ]
    items = document.get("entry", [])
    if not isinstance(items, list):
        return [], [*problems, InvalidRecord(path, "entry", "must be [[entry]] tables")]
    entries = []
    for number, item in enumerate(items, 1):
        try:
            entries.append(decode_entry(path, f"entry {number}", item))
        except InvalidRecord as e:
            problems.append(e)
    return entries, problems


def decode_entry(path: str, where: str, item: Any) -> TimelineEntry:
    if not isinstance(item, dict):
        raise InvalidRecord(path, where, "must be a table")
    for key in item:
        if key not in _KEYS:
            raise InvalidRecord(path, f"{where}: {key}", f"unknown key (known: {_known()})")
    for key in ("at", "who", "kind", "text"):
        if key not in item:
            raise InvalidRecord(path, f"{where}: {key}", "missing")
    at, who, kind, text = item["at"], item["who"], item["kind"], item["text"]
    if not isinstance(at, datetime) or at.tzinfo is None:  # a date alone is not a datetime
        raise InvalidRecord(path, f"{where}: at", "must be a UTC time, like 2026-11-26T14:05:00Z")
    if not isinstance(who, str) or not USER_ID.fullmatch(who):
        raise InvalidRecord(path, f"{where}: who", f"{who!r} is not a Matrix user id")
    if kind not in KINDS:
        raise InvalidRecord(path, f"{where}: kind", f"must be one of {', '.join(KINDS)}")
    if not isinstance(text, str):
        raise InvalidRecord(path, f"{where}: text", "must be a string")
    facts = item.get("facts", {})
    if not isinstance(facts, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in facts.items()
    ):
        raise InvalidRecord(path, f"{where}: facts", "must be a table of strings")
    return TimelineEntry(at.astimezone(UTC), who, kind, text, dict(facts))


def _known() -> str:
    return ", ".join(sorted(_KEYS))


# The transport's journal holds an entry until it is committed


def to_journal(item: TimelineEntry) -> str:
    return json.dumps(
        {"at": item.at.isoformat(), "who": item.who, "kind": item.kind, "text": item.text},
        ensure_ascii=False,
    )


def from_journal(line: str) -> TimelineEntry | None:
    """The transcript entry of a journal row; a row an earlier release wrote (a line of
    `timeline.md`) is read as that format; None if it reads as neither."""

    found: TimelineEntry | None
    try:
        data = json.loads(line)
        at = datetime.fromisoformat(data["at"])
        found = entry(at, str(data["who"]), str(data["kind"]), str(data["text"]))
    except (ValueError, KeyError, TypeError):
        old = legacy_entries(line)
        found = old[0] if len(old) == 1 else None
    if found is None or not found.is_transcript or not USER_ID.fullmatch(found.who):
        return None
    return found


# Rendering for people: one line per entry, whatever its text holds


_PREFIX = {"event": "", "alert": "", "note": "note: ", "said": "said: ", "file": "shared a file: "}
# Inline Markdown only: a text never begins a line, so `#`, `>`, `-` or `1.` cannot start a block.
_MARKDOWN = re.compile(r"([\\`*_\[\]<&|~])")


def stamp(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def one_line(text: str) -> str:
    """`text` with every line break, tab and control character turned into a space (and runs of
    spaces into one): nothing in it can start a line of its own."""
    spaced = "".join(
        " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in _storable(text)
    )
    return " ".join(spaced.split())


def what(item: TimelineEntry) -> str:
    """What an entry says, on one line: `note: failing over`."""
    return _PREFIX[item.kind] + one_line(item.text)


def plain_line(item: TimelineEntry) -> str:
    """`- 2026-11-26 14:05 UTC · @alice:example.org · note: failing over`."""
    return f"- {stamp(item.at)} · {item.who} · {what(item)}"


def markdown(text: str) -> str:
    """Text for the middle of a Markdown line: on one line, with the characters that would make
    emphasis, code, links or HTML escaped."""
    return _MARKDOWN.sub(r"\\\1", one_line(text))


def markdown_line(item: TimelineEntry) -> str:
    """One Markdown list item per entry; its text can neither end it nor start another."""
    return f"- {stamp(item.at)} · {markdown(item.who)} · {_PREFIX[item.kind]}{markdown(item.text)}"


def markdown_lines(entries: Iterable[TimelineEntry]) -> list[str]:
    return [markdown_line(e) for e in entries]
