"""!lock and !unlock (one person holds an environment), !suspend and !resume (pause the
reconciler for an app or an environment)."""

from bot.core.errors import NotFound, Refused, UsageError
from bot.engine.context import Change, Context, Outcome
from bot.engine.grammar import REASON
from bot.engine.registry import Command
from bot.state.records import Lock, Suspension, encode
from bot.state.view import lock_path, suspension_path


def lock(ctx: Context) -> Outcome:
    env = ctx.state.environment(ctx.args["env"]).name
    if not ctx.reason:
        raise UsageError("a lock needs a reason", hint=f'!lock {env} --reason "what you are doing"')
    held = ctx.state.lock(env)
    if held is not None:
        raise Refused(f"{env} is already locked by {held.by}", hint=f"!unlock {env} first")
    record = Lock(env=env, by=ctx.sender, since=ctx.now.replace(microsecond=0), reason=ctx.reason)
    header = "Only the holder of this lock (or an admin) may change this environment."
    files: dict[str, str | bytes | None] = {lock_path(env): encode(record, header=header)}
    return Outcome(f"lock: {env}", change=Change(env, files))


def unlock(ctx: Context) -> Outcome:
    env = ctx.state.environment(ctx.args["env"]).name
    held = ctx.state.lock(env)
    if held is None:
        raise Refused(f"{env} is not locked", hint="!status shows the locks")
    if held.by != ctx.sender and not ctx.policy.is_admin(ctx.sender):
        raise Refused(
            f"{env} is locked by {held.by}", hint=f"ask {held.by} or an admin to unlock it"
        )
    files: dict[str, str | bytes | None] = {lock_path(env): None}
    return Outcome(f"unlock: {env}", change=Change(env, files))


def _app_or_env(ctx: Context) -> str:
    target = ctx.args["target"]
    if target not in ctx.state.apps() and target not in ctx.state.environments():
        known = [*ctx.state.apps(), *ctx.state.environments()]
        raise NotFound(f"no app or environment named {target!r}", hint=f"known: {', '.join(known)}")
    return str(target)


def suspend(ctx: Context) -> Outcome:
    target = _app_or_env(ctx)
    if target in ctx.state.suspensions():
        raise Refused(f"{target} is already suspended", hint=f"!resume {target}")
    record = Suspension(
        name=target, by=ctx.sender, since=ctx.now.replace(microsecond=0), reason=ctx.reason
    )
    header = "The reconciler leaves this app or environment alone while this file exists."
    files: dict[str, str | bytes | None] = {suspension_path(target): encode(record, header=header)}
    return Outcome(f"suspend: {target}", change=Change(target, files))


def resume(ctx: Context) -> Outcome:
    target = _app_or_env(ctx)
    if target not in ctx.state.suspensions():
        raise Refused(f"{target} is not suspended", hint="!status shows what is suspended")
    files: dict[str, str | bytes | None] = {suspension_path(target): None}
    return Outcome(f"resume: {target}", change=Change(target, files))


COMMANDS = (
    Command(
        name="lock",
        usage="<env>",
        options=(REASON,),
        summary="hold an environment: nobody else may change it until you unlock it",
        examples=('!lock prod --reason "migrating the database"',),
        handler=lock,
        writes=True,
        scope="env",
    ),
    Command(
        name="unlock",
        usage="<env>",
        options=(REASON,),
        summary="release a lock (its holder, or an admin)",
        examples=("!unlock prod",),
        handler=unlock,
        writes=True,
        scope="env",
    ),
    Command(
        name="suspend",
        usage="<target>",
        options=(REASON,),
        summary="pause reconciliation of an app or an environment",
        examples=('!suspend web --reason "investigating the deploy hook"',),
        handler=suspend,
        writes=True,
        scope="target",
    ),
    Command(
        name="resume",
        usage="<target>",
        options=(REASON,),
        summary="resume reconciliation of an app or an environment",
        examples=("!resume web",),
        handler=resume,
        writes=True,
        scope="target",
    ),
)
