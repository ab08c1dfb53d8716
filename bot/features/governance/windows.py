"""Which freeze windows are open at a moment, until when, and which come next; and the refusal
of a change made into one."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.errors import InvalidRecord, Refused
from bot.engine.context import Context, EnvChange
from bot.features.governance.declaration import Declared, Window, declared, path_of
from bot.features.governance.schedule import Span
from bot.state.view import StateView

HOTFIX_COMMANDS = ("deploy", "rollback")
"""The commands that take `--hotfix INC-<n>`."""

_CHAINED = 50  # windows that follow one another without a gap, followed at most this far


def declared_in(state: StateView, env: str) -> Declared:
    try:
        text = state.text(path_of(env))
    except InvalidRecord:
        return Declared((), ())  # not UTF-8: the environment's own problem
    return Declared((), ()) if text is None else declared(env, text)


@dataclass(frozen=True)
class Closed:
    window: Window  # the first window open
    until: datetime  # when the last of the windows open back to back ends


def closed_at(found: Declared, now: datetime, apps: Sequence[str] = ()) -> Closed | None:
    """The freeze the windows make at `now` for a change to `apps`, if any."""
    covering = [w for w in found.windows if w.covers(apps)]
    open_now = [(w, span) for w in covering if (span := w.schedule.open_at(now))]
    if not open_now:
        return None
    until = max(end for _, (_, end) in open_now)
    for _ in range(_CHAINED):
        ends = [span[1] for w in covering if (span := w.schedule.open_at(until))]
        if not ends or max(ends) <= until:
            break
        until = max(ends)
    return Closed(open_now[0][0], until)


def upcoming(
    found: Declared, now: datetime, limit: int = 5, horizon: timedelta = timedelta(days=90)
) -> list[tuple[Window, Span]]:
    """The spans open now or opening within `horizon`, soonest first, at most `limit`."""
    spans: list[tuple[Window, Span]] = []
    for window in found.windows:
        current = window.schedule.open_at(now)
        if current is not None:
            spans.append((window, current))
        cursor = now
        for _ in range(limit):
            span = window.schedule.next_after(cursor)
            if span is None or span[0] > now + horizon:
                break
            spans.append((window, span))
            cursor = span[0]
    return sorted(spans, key=lambda item: (item[1][0], item[0].name))[:limit]


def when(moment: datetime, zone: ZoneInfo, now: datetime) -> str:
    """`Mon 08:00 Europe/Berlin` within the coming days, with the date further off."""
    local = moment.astimezone(zone)
    if timedelta(0) <= moment - now < timedelta(days=6):
        return f"{local:%a %H:%M} {zone.key}"
    return f"{local:%a %Y-%m-%d %H:%M} {zone.key}"


def refuse_if_in_window(ctx: Context, change: EnvChange) -> None:
    """Refuses a change made while a window of its environment is open, saying until when and
    why; or while a window of it does not read, saying which."""
    found = declared_in(ctx.state, change.env)
    if found.problems:
        raise found.problems[0]
    closed = closed_at(found, ctx.now, change.apps)
    if closed is None:
        return
    window = closed.window
    until = when(closed.until, window.zone, ctx.now)
    why = f' ("{window.reason}")' if window.reason else ""
    if change.command == "approve":
        hint = f"approve it after {until}, before it expires"
    elif change.command in HOTFIX_COMMANDS:
        hint = f"wait until then (!calendar {change.env}); for an open incident, --hotfix INC-<n>"
    else:
        hint = f"wait until then (!calendar {change.env} lists the windows)"
    raise Refused(f'{change.env} is in the "{window.name}" freeze until {until}{why}', hint=hint)
