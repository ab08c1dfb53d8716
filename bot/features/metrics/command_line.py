"""`opsbot metrics`: the report for scripts and dashboards, from the index (brought up to date
with the repo first, as any reader of it does)."""

import argparse
from datetime import UTC, datetime, timedelta

from bot.config import HostPaths
from bot.core.errors import Refused
from bot.core.text import say
from bot.engine.host import CliCommand
from bot.engine.kinds import ArgError
from bot.features.metrics import figures, render
from bot.features.metrics.commands import DEFAULT_WINDOW, window
from bot.features.metrics.facts import Scope
from bot.state.index import Index
from bot.state.repo import StateRepo
from bot.state.view import StateView


def scope_named(repo: StateRepo, name: str | None) -> Scope:
    """The environment or app called `name`; ValueError naming them all when it is neither."""
    if name is None:
        return Scope()
    view = StateView(repo.snapshot())
    envs, apps = view.environments(), view.apps()
    if name in envs:
        return Scope(env=name)
    if name in apps:
        return Scope(app=name)
    raise ValueError(
        f"no environment or app {name!r} (environments: {', '.join(envs)}; apps: {', '.join(apps)})"
    )


def run(repo: StateRepo, index: Index, name: str | None, since: timedelta, form: str) -> str:
    index.sync(repo)
    until = datetime.now(UTC).replace(microsecond=0)
    report = figures.report(index, scope_named(repo, name), until - since, until)
    if form == "json":
        return render.as_json(report)
    if form == "csv":
        return render.as_csv(report)
    return render.table(report)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("scope", nargs="?", help="an environment or an app (default: all of them)")
    p.add_argument("--since", metavar="30d|90d|...", help="how far back to look (default 90d)")
    form = p.add_mutually_exclusive_group()
    form.add_argument(
        "--json",
        dest="format",
        action="store_const",
        const="json",
        help="JSON, with the weekly series",
    )
    form.add_argument(
        "--csv",
        dest="format",
        action="store_const",
        const="csv",
        help="CSV: figure, n, value, unit, level",
    )
    p.set_defaults(format="table")


def _command(repo: StateRepo, paths: HostPaths, index: Index, args: argparse.Namespace) -> int:
    try:
        since = window(args.since) if args.since else DEFAULT_WINDOW
    except ArgError as e:
        raise Refused(f"--since {args.since!r} {e}") from None
    try:
        say(run(repo, index, args.scope, since, args.format))
    except ValueError as e:
        raise Refused(str(e)) from None
    return 0


COMMAND = CliCommand(
    "metrics",
    "deploy frequency, lead time, change failure rate, time to restore",
    _arguments,
    _command,
)
