"""Governance's say on every change to an environment: a hotfix goes past a freeze and the
approvals (hotfix.py); any other change waits while a freeze window is open (windows.py)."""

from bot.core.errors import InvalidRecord
from bot.engine.context import Clearance, Context, EnvChange
from bot.features.governance.hotfix import hotfix
from bot.features.governance.windows import HOTFIX_COMMANDS, declared_in, refuse_if_in_window
from bot.state.view import StateView


def gate(ctx: Context, change: EnvChange, so_far: Clearance) -> Clearance:
    incident = ctx.args.get("hotfix") if change.command in HOTFIX_COMMANDS else None
    if incident is not None:
        return hotfix(ctx, change, incident)
    if not so_far.past_freeze:
        refuse_if_in_window(ctx, change)
    return so_far


def problems(view: StateView) -> list[InvalidRecord]:
    """The windows of every environment that do not read, with their file and line."""
    return [p for env in view.environments() for p in declared_in(view, env).problems]
