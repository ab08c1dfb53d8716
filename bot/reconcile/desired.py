"""What Git says should run: every (env, app) with its desired version, read from HEAD.

Each desired version comes with the commit that asked for it (the last deploy or rollback of that
version, from the index), because that commit is where the outcome is noted and what identifies
the request: deploying the same version again is a new request.
"""

import logging
from dataclasses import dataclass

from bot.core.errors import InvalidRecord
from bot.core.logs import fact
from bot.state.index import Index
from bot.state.records import App, decode
from bot.state.repo import StateRepo
from bot.state.view import StateView, app_path

log = logging.getLogger("opsbot.reconcile")

SUSPENDED = "suspended"
"""`suspended/<name>.toml` at HEAD, where name is an app or an environment: leave it alone."""


@dataclass(frozen=True)
class Desired:
    env: str
    app: str
    version: str
    commit: str  # the commit that asked for this version
    hook: str | None  # the app's deploy hook; None: nothing on the host can apply it
    why_no_hook: str = ""
    health: str | None = None  # the app's health hook
    observe: str | None = None  # the app's observe hook: prints the version actually running
    rendered: bool = False  # a GitOps engine applies it (apps/<app>.toml has [gitops]), not a hook

    @property
    def target(self) -> tuple[str, str]:
        return self.env, self.app


@dataclass(frozen=True)
class DesiredState:
    head: str | None
    targets: dict[tuple[str, str], Desired]  # suspended ones left out
    suspended: frozenset[str]

    def is_suspended(self, env: str, app: str) -> bool:
        return env in self.suspended or app in self.suspended


def read_desired(repo: StateRepo, index: Index) -> DesiredState:
    """The desired state in force: at main's newest trusted commit, so a push nobody with a key
    made is not applied before an admin adopts it. Reads Git and SQLite: call it from a worker
    thread."""
    snapshot = repo.trusted_snapshot()
    index.sync(repo)
    view = StateView(snapshot)
    suspended = frozenset(
        name.removesuffix(".toml") for name in snapshot.list(SUSPENDED) if name.endswith(".toml")
    )
    targets: dict[tuple[str, str], Desired] = {}
    for env in snapshot.list("deployments"):
        for name in snapshot.list(f"deployments/{env}"):
            app = name.removesuffix(".toml")
            if not name.endswith(".toml") or env in suspended or app in suspended:
                continue
            try:
                deployment = view.deployment(env, app)
            except InvalidRecord as e:
                # `opsbot check` names the problem; the other apps are still served.
                fact(log, "skipping an invalid deployment", logging.WARNING, error=str(e))
                continue
            if deployment is None or not deployment.version:
                continue
            record, why = _app(view, app)
            commit = _asked_by(index, env, app, deployment.version) or snapshot.commit
            assert commit is not None
            targets[env, app] = Desired(
                env,
                app,
                deployment.version,
                commit,
                hook=record.deploy if record else None,
                why_no_hook=why,
                health=record.health if record else None,
                observe=record.observe if record else None,
                rendered=record is not None and record.gitops is not None,
            )
    return DesiredState(snapshot.commit, targets, suspended)


def _app(view: StateView, app: str) -> tuple[App | None, str]:
    """The app's record, and why it cannot be deployed if it cannot."""
    path = app_path(app)
    text = view.text(path)
    if text is None:
        return None, f"{path} is missing"
    try:
        record = decode(App, path, text, name=app)
    except InvalidRecord as e:
        return None, f"invalid: {e.message}"
    return record, "" if record.deploy else f"{path} names no deploy hook"


def _asked_by(index: Index, env: str, app: str, version: str) -> str | None:
    # The last event setting this version: a commit that landed after our snapshot (and is in the
    # index already) asks for another version and is handled on the next pass.
    for event in reversed(index.deploy_events(env, app)):
        if event.version == version:
            return event.sha
    return None
