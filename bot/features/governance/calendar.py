"""`!calendar [<env>]`: the freeze windows open now and coming next; and the same, in short,
at the end of `!status`."""

import html

from bot.engine.context import Addendum, Context, Outcome
from bot.engine.registry import Command
from bot.features.governance.declaration import Window
from bot.features.governance.schedule import Span
from bot.features.governance.windows import closed_at, declared_in, upcoming, when


def _envs(ctx: Context) -> list[str]:
    wanted = ctx.args.get("env")
    return [ctx.state.environment(wanted).name] if wanted else list(ctx.state.environments())


def _span(window: Window, span: Span) -> str:
    start, end = (moment.astimezone(window.zone) for moment in span)
    until = f"{end:%H:%M}" if start.date() == end.date() else f"{end:%a %Y-%m-%d %H:%M}"
    apps = f" (only {', '.join(window.apps)})" if window.apps else ""
    why = f": {window.reason}" if window.reason else ""
    return f'"{window.name}" {start:%a %Y-%m-%d %H:%M} - {until} {window.zone.key}{apps}{why}'


def calendar(ctx: Context) -> Outcome:
    lines = []
    for env in _envs(ctx):
        found = declared_in(ctx.state, env)
        if not found.windows and not found.problems:
            lines.append(f"{env}: no freeze windows")
            continue
        lines.append(env)
        lines += [
            f"  {p.message} (changes to {env} are refused until it is fixed)"
            for p in found.problems
        ]
        for window, span in upcoming(found, ctx.now):
            now = "now " if span[0] <= ctx.now else ""
            lines.append(f"  {now}{_span(window, span)}")
    text = "\n".join(lines) or "no environments"
    return Outcome(text, html=f"<pre>{html.escape(text)}</pre>")


def in_status(ctx: Context) -> list[str]:
    """Per environment with windows: the freeze open now, and the next window."""
    lines = []
    for env in _envs(ctx):
        found = declared_in(ctx.state, env)
        if found.problems:
            lines.append(f"  {env}: {found.problems[0].path} has a window that does not read")
            continue
        if not found.windows:
            continue
        parts = []
        closed = closed_at(found, ctx.now)
        if closed is not None:
            until = when(closed.until, closed.window.zone, ctx.now)
            parts.append(f'in the "{closed.window.name}" freeze until {until}')
        after = closed.until if closed is not None else ctx.now
        coming = [item for item in upcoming(found, after, limit=1) if item[1][0] > after]
        if coming:
            window, (start, _) = coming[0]
            parts.append(f'next "{window.name}" {when(start, window.zone, ctx.now)}')
        lines.append(f"  {env}: {'; '.join(parts) or 'no window ahead'}")
    return ["freeze windows", *lines] if lines else []


COMMANDS = (
    Command(
        name="calendar",
        usage="[<env>]",
        summary="the freeze windows open now and coming next, per environment",
        details="Windows are declared in environments/<env>.toml ([[windows]]); a change made "
        "into one is refused, saying until when and why.",
        examples=("!calendar", "!calendar prod"),
        handler=calendar,
    ),
)
ADDENDA = (Addendum("status", in_status),)
