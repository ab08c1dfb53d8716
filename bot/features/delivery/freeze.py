"""!freeze and !unfreeze: stop every change to an environment, for a release or an incident."""

from bot.core.errors import Refused
from bot.engine.context import Change, Context, Outcome
from bot.engine.grammar import REASON
from bot.engine.registry import Command
from bot.features.timefmt import at
from bot.state.records import Freeze, encode
from bot.state.view import freeze_path

HEADER = (
    "This environment is frozen while this file exists: opsbot refuses every change to it.\n"
    "Remove it with !unfreeze."
)


def freeze(ctx: Context) -> Outcome:
    env = ctx.state.environment(ctx.args["env"]).name
    current = ctx.state.freeze(env)
    if current is not None and current.active(ctx.now):
        raise Refused(
            f"{env} is already frozen by {current.by}",
            hint=f"!unfreeze {env} first to change the freeze",
        )
    now = ctx.now.replace(second=0, microsecond=0)
    until = now + ctx.args["duration"] if "duration" in ctx.args else None
    record = Freeze(env=env, by=ctx.sender, since=now, until=until, reason=ctx.reason)
    files: dict[str, str | None] = {freeze_path(env): encode(record, header=HEADER)}
    shown = f"until {at(until, ctx.now)}" if until else "until unfrozen"
    # The commit summary is read days later, so it carries the full date.
    summary = f"{env} until {until:%Y-%m-%d %H:%M} UTC" if until else f"{env} until unfrozen"
    return Outcome(f"freeze: {env} {shown}", change=Change(summary, files))


def unfreeze(ctx: Context) -> Outcome:
    env = ctx.state.environment(ctx.args["env"]).name
    current = ctx.state.freeze(env)
    if current is None:
        raise Refused(f"{env} is not frozen", hint="!status shows the freezes")
    # An expired freeze is removed too: it no longer blocks anything, but the file would mislead.
    files: dict[str, str | None] = {freeze_path(env): None}
    return Outcome(f"unfreeze: {env}", change=Change(env, files))


COMMANDS = (
    Command(
        name="freeze",
        usage="<env> [for <duration>]",
        options=(REASON,),
        summary="refuse every change to an environment, until unfrozen or for a while",
        details="Durations: 30m, 2h, 1d, 1d12h (at most 90d). Without one, until !unfreeze.",
        examples=('!freeze prod for 2h --reason "release 2.0"',),
        handler=freeze,
        writes=True,
        scope="env",
    ),
    Command(
        name="unfreeze",
        usage="<env>",
        options=(REASON,),
        summary="lift the freeze on an environment",
        examples=("!unfreeze prod",),
        handler=unfreeze,
        writes=True,
        scope="env",
    ),
)
