"""`opsbot metrics`: the report for scripts and dashboards, from the index (brought up to date
with the repo first, as any reader of it does)."""

from datetime import UTC, datetime, timedelta

from bot.features.metrics import figures, render
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
