"""What stops a change to an environment: the features' gates (a freeze window on the calendar),
a freeze, which stops everyone, and a lock, which stops everyone but its holder. Checked when a
change is asked for and again when a proposal is approved.

A gate may also let a change past a freeze or the approvals (a hotfix tied to an open
incident), never past a lock someone else holds."""

from bot.core.errors import Refused
from bot.engine.context import Clearance, Context, EnvChange
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


def clear(ctx: Context, change: EnvChange) -> Clearance:
    """What the gates grant `change`, once every one of them, the freeze and the lock let it
    through; raises `Refused` saying what stops it."""
    clearance = Clearance()
    for gate in ctx.gates:
        clearance = gate(ctx, change, clearance)
    if not clearance.past_freeze:
        refuse_if_frozen(ctx, change.env)
    refuse_if_locked(ctx, change.env)
    return clearance


def refuse_if_closed(ctx: Context, env: str, command: str = "change") -> None:
    clear(ctx, EnvChange(command, env))
