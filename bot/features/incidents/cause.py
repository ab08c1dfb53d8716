"""!incident cause: which deploy caused an incident, kept in its record (`cause`, the deploy's
commit) for the change failure rate. Named by commit (`abc1234`) or by app and environment
(`web prod`: the deploy there that was in force when the incident was opened)."""

from dataclasses import replace

from bot.core.errors import NotFound, Refused
from bot.engine.authorize import may_act_in
from bot.engine.context import Context, Outcome
from bot.engine.registry import Command
from bot.features.incidents.common import acted, change, echo, target
from bot.features.incidents.entries import event
from bot.state.index import Index

HINT = "name the deploy's commit (!history shows them), or its app and environment: web prod"


def deploy_in_force(index: Index, env: str, app: str, at: int) -> str | None:
    """The commit of the last request for `app` in `env` made at or before `at`."""
    row = index.db.conn.execute(
        "SELECT sha FROM deployments WHERE env = ? AND app = ? AND at <= ? "
        "AND version IS NOT NULL ORDER BY seq DESC LIMIT 1",
        [env, app, at],
    ).fetchone()
    return row[0] if row else None


def env_of(index: Index, sha: str) -> str | None:
    """The environment a deploy commit asked for a version in; None for another commit."""
    row = index.db.conn.execute(
        "SELECT env FROM deployments WHERE sha = ? AND version IS NOT NULL", [sha]
    ).fetchone()
    return row[0] if row else None


def describe(index: Index, sha: str) -> str | None:
    """`deploy web 1.4.2 to prod`, for a commit that asked for a version; None otherwise."""
    row = index.db.conn.execute(
        "SELECT kind, app, version, env FROM deployments WHERE sha = ? AND version IS NOT NULL",
        [sha],
    ).fetchone()
    return f"{row[0]} {row[1]} {row[2]} to {row[3]}" if row else None


def resolve_cause(ctx: Context, cause: str, env: str | None, opened: int) -> str:
    """The full commit of the deploy a person named, or a refusal saying what to type."""
    if env is not None:
        app = ctx.state.app(cause).name
        env = ctx.state.environment(env).name
        sha = deploy_in_force(ctx.index, env, app, opened)
        if sha is None:
            raise NotFound(f"{app} had no deploy in {env} before the incident", hint=HINT)
        return sha
    prefix = cause.lower()
    if not all(c in "0123456789abcdef" for c in prefix) or len(prefix) < 4:
        raise Refused(f"{cause!r} is not a commit", hint=HINT)
    found = ctx.index.resolve(prefix)
    if not found:
        raise NotFound(f"no commit {prefix} on main", hint=HINT)
    if len(found) > 1:
        raise Refused(f"{prefix} names more than one commit", hint="type more of it")
    if describe(ctx.index, found[0]) is None:
        raise Refused(f"commit {prefix} is not a deploy", hint=HINT)
    return found[0]


def cause(ctx: Context) -> Outcome:
    record = target(ctx)
    sha = resolve_cause(
        ctx, ctx.args["cause"], ctx.args.get("env"), int(record.opened_at.timestamp())
    )
    if record.cause == sha:
        raise Refused(f"{record.id} already names {sha[:7]} as its cause", hint="nothing to do")
    # A cause counts against its environment's change failure rate, and replacing one takes it
    # off another's: the role's environments must cover both, whichever way the deploy is named.
    envs = [env_of(ctx.index, c) for c in (sha, record.cause) if c]
    may_act_in(ctx.policy, "incident cause", ctx.invocation, [e for e in envs if e], ctx.state)
    what = describe(ctx.index, sha) or sha[:7]
    was = f" (was {record.cause[:7]})" if record.cause else ""
    after = replace(acted(ctx, record), cause=sha)
    line = event(ctx.now, ctx.sender, f"cause: {what} ({sha[:7]}){was}", cause=sha)
    text = f"incident cause: {record.id} was caused by {what} ({sha[:7]}){was}"
    return Outcome(
        text,
        change=change(ctx, record, after, f"cause {sha[:7]}", line),
        effects=echo(ctx, record, text),
        extra={"incident": record.id, "cause": sha},
    )


COMMANDS = (
    Command(
        name="incident cause",
        usage="[<incident>] <cause> [<env>]",
        summary="name the deploy that caused an incident (for the change failure rate)",
        details="Name the deploy by its commit, or by app and environment: the deploy in "
        "force there when the incident was opened. A deploy counts once as failed, however "
        "many incidents name it.",
        examples=("!incident cause INC-3 4f2a9c1", "!incident cause INC-3 web prod"),
        handler=cause,
        writes=True,
    ),
)
