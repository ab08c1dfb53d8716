"""!runbooks, !run and !run cancel: diagnostics declared in runbooks/<name>.toml, run on the host.

The handlers are pure like every other: `!run` reads the declaration from the snapshot, checks
who may run it and every parameter, and returns a job (jobs.py) for the runbooks executor
(executor.py), which the outbox holds until the executor takes it. Nothing runs
before every check passed. The job carries everything the run needs (program, argv, the
environment's names), so what was checked is what runs.
"""

import hashlib
import html
from collections.abc import Collection, Sequence
from typing import Protocol, cast

from bot.core.effects import Request
from bot.core.errors import Forbidden, InvalidRecord, NotFound, Refused
from bot.core.ids import USER_ID
from bot.engine.answers import answer_id
from bot.engine.context import Context, Outcome
from bot.engine.grammar import Option
from bot.engine.registry import Command
from bot.engine.requests import RequestKind
from bot.features.incidents.common import change
from bot.features.incidents.entries import event
from bot.features.incidents.records import by_room, load
from bot.features.runbooks import binding, declaration
from bot.features.runbooks.declaration import Runbook
from bot.features.runbooks.jobs import CancelRun, StartRun, Tunnel, owed
from bot.features.runbooks.journal import ENDED
from bot.features.runbooks.requests import RunNoted

# Runs asked for and not started yet: past these, a further `!run` is refused at once, so that
# nobody fills the queue ahead of everyone else.
WAITING_EACH = 5
WAITING_ALL = 50
CONFIRM = Option("--confirm", "confirm", "", "needed by a runbook that acts rather than looks")


def run_id(event_id: str) -> str:
    """A run's short id, from the event that asked for it: the same on a redelivery."""
    return hashlib.sha256(event_id.encode()).hexdigest()[:8]


def may_run(ctx: Context, runbook: Runbook) -> None:
    """A runbook that names roles is for those roles (and admins) alone."""
    if not runbook.roles or ctx.policy.is_admin(ctx.sender):
        return
    mine = {role.name for role in ctx.policy.roles_of(ctx.sender)}
    if not mine & set(runbook.roles):
        raise Forbidden(
            f"runbook {runbook.name} is for the roles {', '.join(runbook.roles)}",
            hint="ask an admin for one of them (!whoami shows yours)",
        )


def _environments_allowed(ctx: Context, runbook: Runbook, values: dict[str, str]) -> None:
    for param in runbook.params:
        if param.type != "env":
            continue
        env = values[param.name]
        if runbook.environments and env not in runbook.environments:
            raise Forbidden(
                f"runbook {runbook.name} runs only in {', '.join(runbook.environments)}",
                hint=f"choose {param.name}= one of them",
            )
        if not ctx.policy.allows(ctx.sender, "run", env):
            raise Forbidden(
                f"{ctx.sender} may not run !run in {env}",
                hint="ask an admin to extend your role's environments in policy.toml",
            )


class RunsHeld(Protocol):
    """What the host holds for runbooks, read-only (host.py): the runs asked for and not
    ended, and which host secrets the host config grants each runbook."""

    def run(self, run_id: str) -> tuple[str, str] | None: ...  # (who asked, state)

    def waiting(self) -> Sequence[tuple[str, str]]: ...  # (run id, who asked), oldest first

    def granted(self, runbook: str) -> Collection[str] | None: ...  # None: not known here


def _host(ctx: Context) -> RunsHeld | None:
    return cast(RunsHeld | None, ctx.host.get("runbooks"))


def _secrets_granted(ctx: Context, runbook: Runbook) -> None:
    """Which host secrets a runbook receives is the host config's to say."""
    host = _host(ctx)
    granted = host.granted(runbook.name) if host is not None else None
    if granted is None:
        return  # this process has no host config (the console): the executor checks
    for key, secret in runbook.secrets.items():
        if secret not in granted:
            raise Refused(
                f"runbook {runbook.name} asks for the secret {secret!r} (env.{key}), which the "
                "host config does not grant it",
                hint=f'an admin of the host adds [runbooks.grants] {runbook.name} = ["{secret}"]',
            )


def _room_to_wait(ctx: Context) -> None:
    """One person's runs waiting, and everyone's, are bounded."""
    host = _host(ctx)
    if host is None:
        return
    waiting = host.waiting()
    mine = [ident for ident, who in waiting if who == ctx.sender]
    if len(mine) >= WAITING_EACH:
        raise Refused(
            f"you have {len(mine)} runs waiting ({', '.join(mine)})",
            hint=f"!run cancel {mine[-1]} or wait",
        )
    if len(waiting) >= WAITING_ALL:
        raise Refused(f"{len(waiting)} runs are waiting already", hint="try again once some ended")


def runbooks(ctx: Context) -> Outcome:
    lines = []
    for name in declaration.names(ctx.state):
        try:
            runbook = declaration.load(ctx.state, name)
            may_run(ctx, runbook)
        except Forbidden:
            continue
        except InvalidRecord as e:
            if ctx.policy.is_admin(ctx.sender):
                lines.append(f"{name}: does not validate: {e.message}")
            continue
        lines.append(f"{runbook.usage()}  {runbook.summary}")
    if not lines:
        return Outcome("no runbooks you may run (runbooks/<name>.toml in the state repo)")
    text = "\n".join(lines) + "\n!help run <name> shows one in full."
    return Outcome(text, html=f"<pre>{html.escape(text)}</pre>")


def run(ctx: Context) -> Outcome:
    runbook = declaration.load(ctx.state, ctx.args["runbook"])
    may_run(ctx, runbook)
    bound = binding.bind(
        runbook, ctx.args.get("params", ""), ctx.state.apps(), ctx.state.environments()
    )
    _environments_allowed(ctx, runbook, bound.values)
    _secrets_granted(ctx, runbook)
    shown = bound.shown()
    typed = f"!run {runbook.name}" + (f" {shown}" if shown else "")
    if runbook.confirm and not (bound.confirmed or ctx.args.get("confirm")):
        raise Refused(
            f"runbook {runbook.name} acts on the system, so it needs --confirm",
            hint=f"type: {typed} --confirm",
        )
    _room_to_wait(ctx)
    inv = ctx.invocation
    ident = run_id(inv.event_id)
    incident = by_room(ctx.state, inv.room_id) if inv.room_id else None
    job = StartRun(
        id=ident,
        kind=runbook.kind,
        runbook=runbook.name,
        values=bound.values,
        shown=shown,
        command=typed,
        program=runbook.program,
        args=tuple(binding.argv(runbook, bound.values)),
        env=binding.environment(runbook, bound.values),
        secrets=dict(runbook.secrets),
        timeout=runbook.timeout,
        keep=runbook.keep_output,
        redact=runbook.redact,
        concurrency=runbook.concurrency,
        when_busy=runbook.when_busy,
        tunnel=_tunnel(runbook, bound.values),
        sender=ctx.sender,
        sender_name=inv.display_name,
        place=inv.place,
        room=inv.room_id,
        event=inv.event_id,
        answer=answer_id(inv.event_id) if inv.answer else None,
        at=ctx.now.replace(microsecond=0).isoformat(),
        incident=incident.id if incident and incident.is_open else None,
        sha256=dict(runbook.sha256),
    )
    text = f"run {ident}: {runbook.name}" + (f" {shown}" if shown else "") + ": starting…"
    return Outcome(text, effects=(owed(job),), extra={"run": ident})


def _tunnel(runbook: Runbook, values: dict[str, str]) -> Tunnel | None:
    tunnel = runbook.tunnel
    if tunnel is None:
        return None
    args = tuple(binding.render(a, values) for a in tunnel.args)
    return Tunnel(tunnel.program, tunnel.port, tunnel.wait_seconds, args)


def cancel(ctx: Context) -> Outcome:
    ident = ctx.args["run"]
    _may_cancel(ctx, ident)
    inv = ctx.invocation
    job = CancelRun(
        id=ident,
        sender=ctx.sender,
        admin=ctx.policy.is_admin(ctx.sender),
        answer=answer_id(inv.event_id) if inv.answer else None,
    )
    return Outcome(f"cancelling run {ident}…", effects=(owed(job),))


def _may_cancel(ctx: Context, ident: str) -> None:
    """Decided before the answer: a run that is not one's own (an admin's aside), or that
    does not exist or ended, is refused at once and nothing is asked of the executor (which
    checks again, for a run that ends in between)."""
    host = _host(ctx)
    if host is None:
        return  # no host here to ask (a bare engine): the executor decides alone
    found = host.run(ident)
    if found is None:
        raise NotFound(
            f"cannot cancel run {ident}: no such run", hint="the run's reply shows its id"
        )
    sender, state = found
    if state == ENDED:
        raise Refused(f"cannot cancel run {ident}: it has ended already")
    if sender != ctx.sender and not ctx.policy.is_admin(ctx.sender):
        raise Forbidden(f"run {ident} is {sender}'s; only they or an admin may cancel it")


def usage_of(ctx: Context, name: str) -> str:
    """`!help run <name>`: the runbook's usage, generated from its declaration."""
    runbook = declaration.load(ctx.state, name)
    try:
        may_run(ctx, runbook)
    except Forbidden as e:
        return f"!run {name}: {e.message}"
    return runbook.describe()


def noted(ctx: Context, request: RunNoted) -> Outcome:
    record = load(ctx.state, request.incident)
    if record is None:
        raise NotFound(f"no incident {request.incident}")
    if not USER_ID.fullmatch(request.who):
        raise Refused(f"not a Matrix user id: {request.who[:60]!r}")
    line = event(ctx.now, request.who, request.text)
    return Outcome(
        f"run noted: {record.id}",
        change=change(ctx, record, record, "runbook run", line),
        extra={"incident": record.id},
    )


COMMANDS = (
    Command(
        name="runbooks",
        usage="",
        summary="the runbooks you may run",
        examples=("!runbooks",),
        handler=runbooks,
    ),
    Command(
        name="run",
        usage="<runbook> [<params...>]",
        options=(CONFIRM,),
        summary="run a runbook of the state repo on the host; its output comes back here",
        details="Parameters are name=value (or values in the declared order); !help run <name> "
        "shows a runbook's. The reply shows the output as it comes, then the exit status; a "
        "long output comes as a file. Every run is recorded on refs/opsbot/runs.",
        examples=("!run http-check port=8080", "!run sql-query hours=6 limit=20"),
        handler=run,
    ),
    Command(
        name="run cancel",
        usage="<run>",
        summary="stop a run (its whole process group); yours, or anyone's for an admin",
        examples=("!run cancel 3f9a2c1b",),
        handler=cancel,
    ),
)

REQUESTS: tuple[RequestKind[Request], ...] = (
    RequestKind(RunNoted, noted),  # type: ignore[arg-type]
)
