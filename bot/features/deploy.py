"""!deploy and !rollback: the desired version of an app in an environment."""

from bot.engine.context import Change, Context, Outcome
from bot.engine.grammar import REASON
from bot.engine.registry import Command
from bot.errors import Refused
from bot.features.timefmt import at
from bot.state.records import Deployment, encode
from bot.state.view import deployment_path

HEADER = (
    "Desired version of this app in this environment, written by opsbot.\n"
    "`git log` on this file shows who asked for each version, and why."
)


def refuse_if_frozen(ctx: Context, env: str) -> None:
    freeze = ctx.state.freeze(env)
    if freeze is None or not freeze.active(ctx.now):
        return
    until = f"until {at(freeze.until, ctx.now)}" if freeze.until else "until unfrozen"
    why = f' ("{freeze.reason}")' if freeze.reason else ""
    raise Refused(
        f"{env} is frozen {until} by {freeze.by}{why}", hint=f"ask an admin for !unfreeze {env}"
    )


def _desired(ctx: Context, app: str, env: str, version: str) -> dict[str, str | None]:
    path = deployment_path(env, app)
    record = Deployment(
        env=env, app=app, version=version, requested_by=ctx.sender,
        requested_at=ctx.now.replace(microsecond=0), reason=ctx.reason,
    )  # fmt: skip
    return {path: encode(record, ctx.state.text(path), header=HEADER)}


def deploy(ctx: Context) -> Outcome:
    app = ctx.state.app(ctx.args["app"]).name
    env = ctx.state.environment(ctx.args["env"]).name
    version = ctx.args["version"]
    refuse_if_frozen(ctx, env)
    current = ctx.state.deployment(env, app)
    if current is not None and current.version == version:
        raise Refused(f"{app} is already at {version} in {env}", hint="nothing to do")
    summary = f"{app} {version} to {env}"
    return Outcome(f"deploy: {summary}", change=Change(summary, _desired(ctx, app, env, version)))


def rollback(ctx: Context) -> Outcome:
    app = ctx.state.app(ctx.args["app"]).name
    env = ctx.state.environment(ctx.args["env"]).name
    refuse_if_frozen(ctx, env)
    # Each deploy pushes a version, each rollback pops one: rolling back twice goes two versions
    # back instead of flip-flopping between the last two.
    stack: list[str | None] = []
    for event in ctx.history.deploy_events(env, app):
        if event.kind == "rollback" and stack:
            stack.pop()
        else:
            stack.append(event.version)
    current = ctx.state.deployment(env, app)
    if len(stack) < 2 or stack[-2] is None or current is None:
        raise Refused(
            f"{app} has no previous version in {env} to roll back to",
            hint=f"deploy a version instead: !deploy {app} <version> to {env}",
        )
    target = stack[-2]
    summary = f"{app} in {env} to {target} (was {current.version})"
    return Outcome(f"rollback: {summary}", change=Change(summary, _desired(ctx, app, env, target)))


COMMANDS = (
    Command(
        name="deploy",
        usage="<app> <version> to <env>",
        options=(REASON,),
        summary="set the version of an app that should run in an environment",
        details="Refused while the environment is frozen. The reconciler applies the change.",
        examples=('!deploy web 1.4.2 to staging --reason "new login page"',),
        handler=deploy,
        writes=True,
        scope="env",
    ),
    Command(
        name="rollback",
        usage="<app> in <env>",
        options=(REASON,),
        summary="restore the previous desired version (a new commit; history is kept)",
        details="Rolling back twice goes two versions back.",
        examples=("!rollback web in prod --reason 'errors after 1.4.2'",),
        handler=rollback,
        writes=True,
        scope="env",
    ),
)
