"""!deploy, !rollback and !promote: the desired version of an app in an environment.

In an environment that requires approvals, the change goes to a proposal branch instead of main,
and waits there for `!approve` (see features/proposals.py).
"""

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta

from bot.core.errors import Refused
from bot.engine.authorize import may_act_in
from bot.engine.context import Change, Context, EnvChange, Outcome
from bot.engine.grammar import REASON
from bot.engine.registry import Command
from bot.features.gitops.files import environments_of, rendered
from bot.features.guards import clear
from bot.state.proposals import Proposal, record_path
from bot.state.records import Deployment, encode
from bot.state.view import deployment_path

HEADER = (
    "Desired version of this app in this environment, written by opsbot.\n"
    "`git log` on this file shows who asked for each version, and why."
)


def change_version(
    ctx: Context, command: str, app: str, env: str, version: str, summary: str
) -> Outcome:
    """The outcome of setting `app` in `env` to `version`: on main, or as a proposal (unless a
    gate lets it past the approvals, with what it adds to the commit)."""
    clearance = clear(ctx, EnvChange(command, env, (app,), version))
    path = deployment_path(env, app)
    record = Deployment(
        env=env,
        app=app,
        version=version,
        requested_by=ctx.sender,
        requested_at=ctx.now.replace(microsecond=0),
        reason=ctx.reason,
        command=command,
    )
    record = replace(record, **clearance.record)  # type: ignore[arg-type]
    files: dict[str, str | bytes | None] = {
        path: encode(record, ctx.state.text(path), header=HEADER)
    }
    # A GitOps engine reads the version from its own files: they change in the same commit.
    engine_files = rendered(ctx.state, app, env, version)
    refuse_unless_all_theirs(ctx, command, env, engine_files)
    files |= engine_files
    environment = ctx.state.environment(env)
    if environment.approvals == 0 or clearance.past_approvals:
        # The host applies it (and the reply says how it went), or the engine does.
        text = f"{command}: {summary}" + handed_over(engine_files) + clearance.text
        extra = {"deploys": not engine_files, "rendered": sorted(engine_files)}
        change = Change(summary, files | dict(clearance.files), clearance.trailers)
        return Outcome(
            text, change=change, extra=extra, effects=clearance.effects, then=clearance.then
        )
    assert ctx.state.commit is not None
    number = ctx.proposals.next_number()
    expires = ctx.now.replace(microsecond=0) + timedelta(hours=environment.proposal_expiry_hours)
    needed = environment.approvals
    proposal = Proposal(
        number=number,
        summary=f"{command}: {summary}",
        requester=ctx.sender,
        env=env,
        approvals_required=needed,
        expires=expires,
        base=ctx.state.commit,
    )
    files[record_path(number)] = proposal.encode()
    trailers = (("Opsbot-Proposal", str(number)), ("Environment", env))
    change = Change(
        summary,
        files,
        trailers,
        branch=f"proposals/{number}",
        base=ctx.state.commit,
        new_branch=True,
    )
    people = "approval" if needed == 1 else "approvals"
    text = (
        f"proposal {number}: {command}: {summary}; {env} needs {needed} {people} from someone "
        f"other than you: !approve {number}"
    )
    return Outcome(text, change=change, extra={"proposal": number})


def refuse_unless_all_theirs(
    ctx: Context, command: str, env: str, engine_files: Mapping[str, object]
) -> None:
    """A render that writes another environment's file (`[gitops.paths]` may point dev at
    prod's overlay) acts in that environment too: the role must cover it, and its gates, freeze
    or lock stop the change as its own would (what the gates grant there is not added twice)."""
    others = [e for e in environments_of(ctx.state, engine_files) if e != env]
    may_act_in(ctx.policy, command, ctx.invocation, others, ctx.state)
    for other in others:
        if other in ctx.state.environments():
            clear(ctx, EnvChange(command, other))


def handed_over(engine_files: Mapping[str, str]) -> str:
    """The reply's words for a version that a GitOps engine applies, not this host."""
    if not engine_files:
        return ""
    return f"; for the GitOps engine: {', '.join(sorted(engine_files))}"


def deploy(ctx: Context) -> Outcome:
    app = ctx.state.app(ctx.args["app"]).name
    env = ctx.state.environment(ctx.args["env"]).name
    version = ctx.args["version"]
    current = ctx.state.deployment(env, app)
    if current is not None and current.version == version:
        raise Refused(f"{app} is already at {version} in {env}", hint="nothing to do")
    return change_version(ctx, "deploy", app, env, version, f"{app} {version} to {env}")


def redeploy(ctx: Context) -> Outcome:
    """The same version again, as a new request, after a failed deploy hook has given up: the
    reconciler settles each request (commit) once, and tries a new one afresh."""
    app = ctx.state.app(ctx.args["app"]).name
    env = ctx.state.environment(ctx.args["env"]).name
    current = ctx.state.deployment(env, app)
    if current is None:
        raise Refused(f"{app} has no version in {env}", hint=f"!deploy {app} <version> to {env}")
    summary = f"{app} {current.version} in {env} again"
    return change_version(ctx, "redeploy", app, env, current.version, summary)


def rollback(ctx: Context) -> Outcome:
    app = ctx.state.app(ctx.args["app"]).name
    env = ctx.state.environment(ctx.args["env"]).name
    # Each deploy pushes a version, each rollback pops one: rolling back twice goes two versions
    # back instead of flip-flopping between the last two.
    stack: list[str | None] = []
    for event in ctx.index.deploy_events(env, app):
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
    return change_version(ctx, "rollback", app, env, target, summary)


def promote(ctx: Context) -> Outcome:
    app = ctx.state.app(ctx.args["app"]).name
    source = ctx.state.environment(ctx.args["source"]).name
    env = ctx.state.environment(ctx.args["env"]).name
    order = list(ctx.state.environments())
    following = order[order.index(source) + 1] if order.index(source) + 1 < len(order) else None
    if env != following:
        path = " -> ".join(order)
        raise Refused(
            f"{env} does not follow {source} in the promotion order ({path})",
            hint=f"promote {source} to {following}" if following else f"{source} is the last",
        )
    running = ctx.state.deployment(source, app)
    if running is None:
        raise Refused(
            f"{app} has no version in {source} to promote",
            hint=f"!deploy {app} <version> to {source}",
        )
    current = ctx.state.deployment(env, app)
    if current is not None and current.version == running.version:
        raise Refused(f"{app} is already at {running.version} in {env}", hint="nothing to do")
    summary = f"{app} {running.version} from {source} to {env}"
    return change_version(ctx, "promote", app, env, running.version, summary)


COMMANDS = (
    Command(
        name="deploy",
        needs_index=True,
        usage="<app> <version> to <env>",
        options=(REASON,),
        summary="set the version of an app that should run in an environment",
        details="Refused while the environment is frozen, or locked by someone else. Where the "
        "environment requires approvals, opens a proposal instead.",
        examples=('!deploy web 1.4.2 to staging --reason "new login page"',),
        handler=deploy,
        writes=True,
        scope="env",
    ),
    Command(
        name="redeploy",
        needs_index=True,
        usage="<app> in <env>",
        options=(REASON,),
        summary="ask for the desired version again (after a failed deploy hook gave up)",
        examples=("!redeploy web in staging --reason 'registry is back'",),
        handler=redeploy,
        writes=True,
        scope="env",
    ),
    Command(
        name="rollback",
        needs_index=True,
        usage="<app> in <env>",
        options=(REASON,),
        summary="restore the previous desired version (a new commit; history is kept)",
        details="Rolling back twice goes two versions back.",
        examples=("!rollback web in prod --reason 'errors after 1.4.2'",),
        handler=rollback,
        writes=True,
        scope="env",
    ),
    Command(
        name="promote",
        needs_index=True,
        usage="<app> from <source> to <env>",
        options=(REASON,),
        summary="deploy the version an app has in one environment to the next one",
        details="Follows the environments' order; freezes, locks and approvals apply as to "
        "a deploy.",
        examples=("!promote web from staging to prod",),
        handler=promote,
        writes=True,
        scope="env",
    ),
)
