"""What stops a change to an environment: a freeze stops everyone, a lock everyone but its
holder. Checked when a change is asked for and again when a proposal is approved."""

from bot.core.errors import Refused
from bot.engine.context import Context
from bot.features.timefmt import at


def refuse_if_frozen(ctx: Context, env: str) -> None:
    freeze = ctx.state.freeze(env)
    if freeze is None or not freeze.active(ctx.now):
        return
    until = f"until {at(freeze.until, ctx.now)}" if freeze.until else "until unfrozen"
    why = f' ("{freeze.reason}")' if freeze.reason else ""
    raise Refused(
        f"{env} is frozen {until} by {freeze.by}{why}", hint=f"ask an admin for !unfreeze {env}"
    )


def refuse_if_locked(ctx: Context, env: str) -> None:
    lock = ctx.state.lock(env)
    if lock is None or lock.by == ctx.sender:
        return
    why = f' ("{lock.reason}")' if lock.reason else ""
    raise Refused(
        f"{env} is locked by {lock.by}{why}",
        hint=f"ask {lock.by} or an admin for !unlock {env}",
    )


def refuse_if_closed(ctx: Context, env: str) -> None:
    refuse_if_frozen(ctx, env)
    refuse_if_locked(ctx, env)
