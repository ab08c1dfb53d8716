"""Read-only views: !status, !history, !show."""

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from bot.core.errors import InvalidRecord, NotFound, Refused
from bot.engine.context import Context, Outcome, Runtime
from bot.engine.grammar import Option
from bot.engine.kinds import count
from bot.engine.registry import Command
from bot.features.delivery.proposals import due
from bot.features.timefmt import ago, at

MAX_DIFF_LINES = 80
R = TypeVar("R")


def status(ctx: Context) -> Outcome:
    envs = ctx.state.environments()
    wanted = ctx.args.get("env")
    if wanted is not None:
        envs = {wanted: ctx.state.environment(wanted)}
    suspended = ctx.state.suspensions()
    rendered = {name for name, app in ctx.state.apps().items() if app.gitops is not None}
    host = _Host.of(ctx)
    lines = []
    for env in envs:
        notes: list[str] = []
        freeze = _or_note(ctx.state.freeze, env, notes)
        if freeze is not None and freeze.active(ctx.now):
            until = f"until {at(freeze.until, ctx.now)}" if freeze.until else "until unfrozen"
            notes.append(f"frozen {until} by {freeze.by}")
        lock = _or_note(ctx.state.lock, env, notes)
        if lock is not None:
            notes.append(f"locked by {lock.by}")
        if env in suspended:
            notes.append("reconciliation suspended")
        lines.append(f"{env} ({'; '.join(notes)})" if notes else env)
        deployments = ctx.state.deployments(env)
        if not deployments:
            lines.append("  (nothing deployed)")
        for app, d in deployments.items():
            when = f", {ago(d.requested_at, ctx.now)}" if d.requested_at else ""
            paused = " [suspended]" if app in suspended else ""
            seen = host.describe(env, app, d.version, app in rendered) if host else ""
            fix = f" [hotfix for {d.hotfix}]" if d.hotfix else ""
            lines.append(f"  {app} {d.version} (by {d.requested_by}{when}){fix}{seen}{paused}")
    waiting = ctx.proposals.open(ctx.now)
    if waiting:
        lines.append("open proposals")
        lines += [
            f"  {p.number}: {p.summary} ({len(p.approvers)} of {p.approvals_required}{due(p, ctx)})"
            for p in waiting
        ]
    lines += ctx.added("status")
    text = "\n".join(lines)
    return Outcome(text, html=f"<pre>{html.escape(text)}</pre>")


def _or_note(read: Callable[[str], R | None], env: str, notes: list[str]) -> R | None:
    """A record for `!status`, or None with a note when its file does not validate: the other
    environments are still shown (changes to this one are refused until it is fixed)."""
    try:
        return read(env)
    except InvalidRecord as e:
        notes.append(f"{e.path} is invalid, see opsbot check")
        return None


@dataclass(frozen=True)
class _Host:
    """What the host says, read once per `!status`: applied versions, what the observe hooks see
    running, health (from the reconciler, when one runs)."""

    runtime: Runtime
    applied: Mapping[tuple[str, str], Any]
    observed: Mapping[tuple[str, str], str]
    health: Mapping[tuple[str, str], Any]

    @classmethod
    def of(cls, ctx: Context) -> "_Host | None":
        r = ctx.runtime
        return None if r is None else cls(r, r.applied(), r.observed(), r.health())

    def describe(self, env: str, app: str, desired: str, rendered: bool = False) -> str:
        """Applied, running, health, and drift (running or applied is not desired). For an app
        a GitOps engine applies (`rendered`), applied is what its observe hook says the engine
        applied; with no such hook nothing is known, and no drift is claimed."""
        applied = self.applied.get((env, app))
        observed = self.observed.get((env, app))
        checked = self.health.get((env, app))
        parts = []
        if rendered and applied is None and observed is None:
            parts.append("rendered for the GitOps engine, not observed")
            if checked is not None:
                parts.append("healthy" if checked.ok else f"unhealthy ({checked.error})")
            return " · " + ", ".join(parts)
        if applied is None:
            parts.append("not applied yet")
        else:
            parts.append("applied" if applied.version == desired else f"applied {applied.version}")
        if observed is not None:
            parts.append("running" if observed == desired else f"running {observed}")
        if checked is not None:
            parts.append("healthy" if checked.ok else f"unhealthy ({checked.error})")
        seen = observed if observed is not None else (applied.version if applied else None)
        if seen != desired:
            parts.append("drift")
            runs = self.runtime.outcomes(env, app)
            if runs and runs[-1].status == "failed":
                last = runs[-1]
                why = last.result.error if last.result else last.detail
                parts.append(f"last attempt failed ({why})")
        return " · " + ", ".join(parts)


def history(ctx: Context) -> Outcome:
    target = ctx.args.get("target")
    limit = ctx.args.get("limit", 10)
    app = env = None
    if target is not None:
        if target in ctx.state.apps():
            app = target
        elif target in ctx.state.environments():
            env = target
        else:
            known = [*ctx.state.apps(), *ctx.state.environments()]
            raise NotFound(
                f"no app or environment named {target!r}", hint=f"known: {', '.join(known)}"
            )
    entries = ctx.index.history(app=app, env=env, limit=limit)
    lines = [
        f"{e.sha[:7]} {datetime.fromtimestamp(e.at, UTC):%Y-%m-%d %H:%M} {e.author_id}: {e.summary}"
        for e in entries
    ]
    text = "\n".join(lines) or "no history yet"
    return Outcome(text, html=f"<pre>{html.escape(text)}</pre>")


def show(ctx: Context) -> Outcome:
    prefix = ctx.args["commit"]
    matches = ctx.index.resolve(prefix)
    if not matches:
        raise NotFound(f"no commit {prefix} on main", hint="!history lists recent commits")
    if len(matches) > 1:
        raise Refused(
            f"{prefix} is ambiguous", hint="give more digits: " + ", ".join(m[:10] for m in matches)
        )
    commit = ctx.log.commit(matches[0])
    diff = commit.diff.splitlines()
    if len(diff) > MAX_DIFF_LINES:
        diff = [
            *diff[:MAX_DIFF_LINES],
            f"... {len(diff) - MAX_DIFF_LINES} more lines (git show {commit.sha[:10]})",
        ]
    header = [f"commit {commit.sha}", f"Author: {commit.author}"]
    header.append(f"Date:   {commit.at:%Y-%m-%d %H:%M:%S} UTC")
    text = "\n".join([*header, "", commit.message.rstrip(), "", *diff])
    return Outcome(text, html=f"<pre>{html.escape(text)}</pre>")


COMMANDS = (
    Command(
        name="status",
        needs_index=True,
        usage="[<env>]",
        summary="desired versions and freezes, per environment",
        examples=("!status", "!status prod"),
        handler=status,
    ),
    Command(
        name="history",
        needs_index=True,
        usage="[<target>]",
        options=(Option("-n", "limit", "N", "how many commits (default 10, at most 200)", count),),
        summary="recent commits, for an app or an environment",
        examples=("!history", "!history web -n 20", "!history prod"),
        handler=history,
    ),
    Command(
        name="show",
        needs_index=True,
        usage="<commit>",
        summary="one commit: who, when, why, and the diff",
        examples=("!show 3f9c2ab",),
        handler=show,
    ),
)
