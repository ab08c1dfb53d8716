"""The deploys and incidents of a window, read from the index (bot/state/index_facts.py).

A deploy is a request on main for a version of an app in an environment (a row of the
index's `deployments`); what became of it comes from the reconciler's notes: applied at its
first `ok` outcome, failed at a final `failed` one. Requests still pending, superseded or with
no hook to run are not deploys the metrics count.
"""

from dataclasses import dataclass, field

from bot.state.index import Index

MARGIN = 7 * 86400  # requests made this long before the window may be applied inside it


@dataclass
class Deploy:
    sha: str
    seq: int
    env: str
    app: str
    version: str
    kind: str  # deploy, redeploy, rollback, promote
    requested_at: int
    first_requested_at: int | None  # of this version, in any environment
    applied_at: int | None = None
    failed_at: int | None = None  # a final failed apply, and never applied
    causes: list[str] = field(default_factory=list)  # incidents naming it as their cause

    @property
    def ended_at(self) -> int | None:
        return self.applied_at if self.applied_at is not None else self.failed_at


@dataclass(frozen=True)
class IncidentFact:
    id: str
    severity: str
    status: str
    opened_at: int
    acknowledged_at: int | None
    mitigated_at: int | None
    resolved_at: int | None
    cause: str | None


@dataclass(frozen=True)
class Scope:
    """Which deploys count: all, one environment's, or one app's."""

    env: str | None = None
    app: str | None = None

    def where(self) -> tuple[str, list[str]]:
        if self.env is not None:
            return " AND d.env = ?", [self.env]
        if self.app is not None:
            return " AND d.app = ?", [self.app]
        return "", []

    def describe(self) -> str:
        return self.env or self.app or "all apps and environments"


def deploys(index: Index, scope: Scope, since: int) -> list[Deploy]:
    """Every request of the scope from shortly before `since` on, in order, with outcomes."""
    where, args = scope.where()
    conn = index.db.conn
    rows = conn.execute(
        "SELECT d.sha, d.seq, d.env, d.app, d.version, d.kind, d.requested_at, "
        "d.first_requested_at, d.applied_at, d.failed_at FROM deployments d "
        "WHERE d.rowid >= (SELECT MIN(rowid) FROM deployments WHERE at >= ?) "
        f"AND d.version IS NOT NULL{where} ORDER BY d.rowid",
        [since - MARGIN, *args],
    ).fetchall()
    found = {}
    for sha, seq, env, app, version, kind, asked, first, applied, failed in rows:
        found[sha] = Deploy(sha, seq, env, app, version, kind, asked, first, applied,
                            failed if applied is None else None)  # fmt: skip
    if not found:
        return []
    for incident, cause in conn.execute(
        "SELECT id, cause FROM incidents WHERE cause IS NOT NULL ORDER BY number"
    ):
        if cause in found:
            found[cause].causes.append(incident)
    return list(found.values())


def built(index: Index, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, str]]:
    """The time a version's metadata gives (its source commit's time, else its build time)
    and which it was, for the versions a CI webhook recorded."""
    found: dict[tuple[str, str], tuple[int, str]] = {}
    for app, version, committed, built_at in index.db.conn.execute(
        "SELECT app, version, committed_at, built_at FROM versions"
    ):
        if (app, version) not in pairs:
            continue
        if committed is not None:
            found[app, version] = (int(committed), "commit")
        elif built_at is not None:
            found[app, version] = (int(built_at), "build")
    return found


def incidents(index: Index) -> list[IncidentFact]:
    rows = index.db.conn.execute(
        "SELECT id, severity, status, opened_at, acknowledged_at, mitigated_at, resolved_at, "
        "cause FROM incidents ORDER BY number"
    ).fetchall()
    return [IncidentFact(*row) for row in rows]
