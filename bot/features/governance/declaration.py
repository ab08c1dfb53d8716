"""The freeze windows an environment declares: `[[windows]]` in `environments/<env>.toml`.

    [[windows]]
    name = "weekend"                      # named in refusals and in !calendar
    reason = "nobody is around to watch"  # said in refusals
    timezone = "Europe/Berlin"            # an IANA zone; DST is the zone's
    every = "fri 16:00 - mon 08:00"       # a weekly span, in wall-clock time
    apps = ["web"]                        # optional: only changes to these apps wait

and instead of `every`, one of: `cron = "0 2 * * *"` with `duration = "2h"` (a span that opens at
each time the expression names), `start` and `end` (TOML dates or local date-times, a date
meaning the whole day), or `dates = [2026-12-24, 2026-12-31]` (each a whole day). No window
is longer than 7 days (`LONGEST`).

A declaration that does not read is named with its file and line (for `opsbot check`), and
refuses the changes to its environment alone: a window nobody can read must not pass for
none, and other environments and commands go on as before.
"""

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from bot.core.errors import InvalidRecord
from bot.engine.kinds import ArgError, duration
from bot.features.governance.schedule import (
    DAYS,
    LONGEST,
    Cron,
    Schedule,
    Span,
    Spans,
    Weekly,
    never_fires,
)
from bot.state.names import name_problem
from bot.state.records import parse_toml

KEYS = ("name", "reason", "timezone", "apps", "every", "cron", "duration", "start", "end", "dates")
SHAPES = ("every", "cron", "start", "dates")
_EVERY = re.compile(
    rf"\s*({'|'.join(DAYS)})\s+([0-9]{{1,2}}):([0-9]{{2}})\s*-\s*({'|'.join(DAYS)})\s+"
    r"([0-9]{1,2}):([0-9]{2})\s*",
    re.IGNORECASE,
)
_HEADER = re.compile(r"\s*\[\[\s*windows\s*\]\]")


@dataclass(frozen=True)
class Window:
    env: str
    name: str
    reason: str
    zone: ZoneInfo
    apps: tuple[str, ...]  # empty: every app
    schedule: Schedule

    def covers(self, apps: Sequence[str]) -> bool:
        """Whether a change to `apps` waits for it (a change to no app named: every window)."""
        return not self.apps or not apps or any(app in self.apps for app in apps)


@dataclass(frozen=True)
class Declared:
    windows: tuple[Window, ...]
    problems: tuple[InvalidRecord, ...]


def path_of(env: str) -> str:
    return f"environments/{env}.toml"


@functools.lru_cache(maxsize=64)
def declared(env: str, text: str) -> Declared:
    """The windows `environments/<env>.toml` (its `text`) declares, and what is wrong in them."""
    path = path_of(env)
    try:
        raw = parse_toml(path, text).get("windows", [])
    except InvalidRecord:
        return Declared((), ())  # the environment itself does not read: its own problem
    items = raw if isinstance(raw, list) else [raw]
    windows: list[Window] = []
    problems: list[InvalidRecord] = []
    for i, item in enumerate(items):
        try:
            window = _window(env, item)
        except _Problem as e:
            problems.append(
                InvalidRecord(path, f"line {_line(text, i, e.key)}: windows[{i}].{e.key}", e.what)
            )
            continue
        if any(w.name == window.name for w in windows):
            line = _line(text, i, "name")
            problems.append(
                InvalidRecord(path, f"line {line}: windows[{i}].name", f"{window.name!r} twice")
            )
            continue
        windows.append(window)
    return Declared(tuple(windows), tuple(problems))


class _Problem(Exception):
    def __init__(self, key: str, what: str) -> None:
        super().__init__(what)
        self.key = key
        self.what = what


def _window(env: str, item: Any) -> Window:
    if not isinstance(item, dict):
        raise _Problem("", "must be a table: [[windows]]")
    for key in item:
        if key not in KEYS:
            raise _Problem(key, f"unknown field (known: {', '.join(KEYS)})")
    name = _string(item, "name", required=True)
    if (problem := name_problem(name)) is not None:
        raise _Problem("name", f"{name!r} {problem}")
    zone = _zone(_string(item, "timezone", required=True))
    apps = item.get("apps", [])
    if not isinstance(apps, list) or not all(isinstance(a, str) for a in apps):
        raise _Problem("apps", "must be a list of app names")
    shapes = [key for key in SHAPES if key in item]
    if len(shapes) != 1:
        raise _Problem(
            shapes[1] if len(shapes) > 1 else "every",
            "needs one of: every, cron (with duration), start (with end), dates",
        )
    schedule = _SHAPES[shapes[0]](item, zone)
    return Window(env, name, _string(item, "reason"), zone, tuple(apps), schedule)


def _string(item: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = item.get(key, "")
    if not isinstance(value, str):
        raise _Problem(key, f"must be a string, not {value!r}")
    if required and not value:
        raise _Problem(key, "missing")
    return value


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    # OSError: a name zoneinfo looks up as a file and cannot read ("Europe", a directory; a
    # name too long for one).
    except (ZoneInfoNotFoundError, ValueError, OSError):
        shown = name if len(name) <= 64 else name[:64] + "..."
        raise _Problem(
            "timezone", f"{shown!r} is not an IANA time zone like Europe/Berlin"
        ) from None


def _only(item: dict[str, Any], *keys: str) -> None:
    """Keys of another shape are a mistake, not a wish: `duration` beside `every`."""
    for key in ("duration", "end"):
        if key in item and key not in keys:
            raise _Problem(key, f"has no meaning beside {keys[0]}")


def _every(item: dict[str, Any], zone: ZoneInfo) -> Schedule:
    _only(item, "every")
    text = _string(item, "every")
    match = _EVERY.fullmatch(text)
    hours = (int(match.group(2)), int(match.group(5))) if match else (99, 99)
    minutes = (int(match.group(3)), int(match.group(6))) if match else (99, 99)
    if match is None or max(hours) > 23 or max(minutes) > 59:
        raise _Problem("every", f'{text!r} must read like "fri 16:00 - mon 08:00"')
    start_day, end_day = DAYS.index(match.group(1).lower()), DAYS.index(match.group(4).lower())
    start, end = time(hours[0], minutes[0]), time(hours[1], minutes[1])
    if start_day == end_day and start == end:
        raise _Problem("every", f"{text!r} covers the whole week: longer than 7 days")
    return Weekly(start_day, start, end_day, end, zone)


def _cron(item: dict[str, Any], zone: ZoneInfo) -> Schedule:
    _only(item, "cron", "duration")
    expression = _string(item, "cron")
    if not croniter.is_valid(expression) or len(expression.split()) != 5:
        raise _Problem("cron", f'{expression!r} is not a cron expression like "0 2 * * *"')
    if never_fires(expression):
        raise _Problem("cron", f"{expression!r} never fires (no such date)")
    length = _string(item, "duration", required=True)
    try:
        span = duration(length)
    except ArgError as e:
        raise _Problem("duration", f"{length!r} {e}") from None
    if span > LONGEST:
        raise _Problem("duration", f"{length!r} is longer than 7 days")
    return Cron(expression, span, zone)


def _day(day: date, zone: ZoneInfo) -> datetime:
    """Midnight of `day` in `zone`, in UTC."""
    return datetime.combine(day, time()).replace(tzinfo=zone).astimezone(UTC)


def _moment(item: dict[str, Any], key: str, zone: ZoneInfo, *, end: bool = False) -> datetime:
    value = item.get(key)
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=zone).astimezone(UTC)
    if isinstance(value, date):
        return _day(value + timedelta(days=1) if end else value, zone)  # a date: the whole day
    raise _Problem(key, "missing" if value is None else "must be a date or a date and time")


def _start(item: dict[str, Any], zone: ZoneInfo) -> Schedule:
    _only(item, "start", "end")
    start, end = _moment(item, "start", zone), _moment(item, "end", zone, end=True)
    return Spans((_checked("end", start, end),))


def _dates(item: dict[str, Any], zone: ZoneInfo) -> Schedule:
    _only(item, "dates")
    days = item.get("dates")
    if not isinstance(days, list) or not all(
        isinstance(d, date) and not isinstance(d, datetime) for d in days
    ):
        raise _Problem("dates", "must be a list of dates, like [2026-12-24, 2026-12-31]")
    return Spans(
        tuple((_day(d, zone), _day(d + timedelta(days=1), zone)) for d in sorted(set(days)))
    )


def _checked(key: str, start: datetime, end: datetime) -> Span:
    if end <= start:
        raise _Problem(key, "must be after start")
    if end - start > LONGEST:
        raise _Problem(key, "is more than 7 days after start: split it, or use !freeze")
    return start, end


_SHAPES = {"every": _every, "cron": _cron, "start": _start, "dates": _dates}


def _line(text: str, index: int, key: str) -> int:
    """The line of `key` in the `index`th `[[windows]]` table (its header's line if the key is
    not on a line of its own), counted from 1; 1 when the windows are written another way."""
    lines = text.splitlines()
    headers = [n for n, line in enumerate(lines) if _HEADER.match(line)]
    if index >= len(headers):
        found = next((n for n, line in enumerate(lines) if line.lstrip().startswith("windows")), 0)
        return found + 1
    start = headers[index]
    for n in range(start + 1, len(lines)):
        stripped = lines[n].lstrip()
        if stripped.startswith("["):
            break
        if key and re.match(rf"{re.escape(key)}\s*=", stripped):
            return n + 1
    return start + 1
