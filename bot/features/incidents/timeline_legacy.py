"""Reading the `timeline.md` of incidents that releases before timeline chunks wrote: best effort,
never written again (new entries go to `timeline/`, see timeline.py).

That format was a Markdown list, one item per entry, a text of several lines continued on lines
indented by two spaces:

    - 2026-11-26 14:05 UTC · @alice:example.org · opened INC-7 (sev2): Database is down
    - 2026-11-26 14:06 UTC · @bob:example.org said: the primary is not answering
      and the replica lags
    - 2026-11-26 14:07 UTC · @bob:example.org shared a file: graph.png

Its writer ended lines with "\\n" only, so only "\\n" ends a line here: a Unicode line separator
inside a note stays inside that note. The facts the bot needs back (severities, alerts) are read
from the words it wrote itself, since that format had no other place for them.
"""

import re
from datetime import UTC, datetime

from bot.core.ids import USER_ID
from bot.features.incidents.entries import TimelineEntry, entry

_STAMP = r"(\d{4}-\d\d-\d\d \d\d:\d\d) UTC"
_TRANSCRIPT = re.compile(rf"- {_STAMP} · (@\S+) (said|shared a file): (.*)")
_EVENT = re.compile(rf"- {_STAMP} · (\S+) · (.*)")
_ALERT = re.compile(r"alert (firing|resolved): .* \[(\S+) since (\S+)\]")
_OPENED = re.compile(r"opened INC-[0-9]+ \((sev[1-5])\).*", re.S)
_SEVERITY = re.compile(r"severity (sev[1-5]) -> (sev[1-5])(?: \((.*)\))?", re.S)


def legacy_entries(text: str) -> list[TimelineEntry]:
    """The entries of an old `timeline.md`, in order; lines that fit no entry are left out."""
    found: list[TimelineEntry] = []
    head: str | None = None
    more: list[str] = []
    for line in [*text.split("\n"), ""]:
        if head is not None and line.startswith("  "):
            more.append(line[2:])
            continue
        if head is not None:
            item = _entry(head, more)
            if item is not None:
                found.append(item)
        head, more = (line, []) if line.startswith("- ") else (None, [])
    return found


def _entry(head: str, more: list[str]) -> TimelineEntry | None:
    if match := _TRANSCRIPT.fullmatch(head):
        stamp, who, verb, first = match.groups()
        kind = "said" if verb == "said" else "file"
        return _made(stamp, who, kind, "\n".join([first, *more]))
    if match := _EVENT.fullmatch(head):
        stamp, who, first = match.groups()
        text = "\n".join([first, *more])
        if text.startswith("note: "):
            return _made(stamp, who, "note", text.removeprefix("note: "))
        if alert := _ALERT.fullmatch(text):
            status, fingerprint, since = alert.groups()
            facts = {"status": status, "fingerprint": fingerprint, "since": since}
            return _made(stamp, who, "alert", text, **facts)
        if opened := _OPENED.fullmatch(text):
            return _made(stamp, who, "event", text, severity=opened.group(1))
        if changed := _SEVERITY.fullmatch(text):
            was, severity, reason = changed.groups()
            why = {"reason": reason} if reason else {}
            return _made(stamp, who, "event", text, severity=severity, was=was, **why)
        return _made(stamp, who, "event", text)
    return None


def _made(stamp: str, who: str, kind: str, text: str, **facts: str) -> TimelineEntry | None:
    if not USER_ID.fullmatch(who):
        return None
    try:
        at = datetime.strptime(stamp, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    except ValueError:
        return None
    return entry(at, who, kind, text, **facts)
